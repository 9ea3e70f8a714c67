/*
 * test_policy_index.c: cmocka tests of libfleetpolicy's two prefix-cache indexes
 * (policies/index_approx.c, policies/index_precise.c) against naive models.
 *
 * Each index is driven side by side with a model made of plain arrays scanned linearly
 * (per endpoint an array of hashes in LRU order; per key an ordered list of holders and
 * a global list of keys in store order) through long random sequences of operations
 * with a fixed seed. Hashes and keys come from small sets so that hits, refreshes,
 * evictions, shared holders and hash-table deletions inside probe clusters all happen
 * often; after every operation every observable result is compared: match counts and
 * walk lengths, lengths, membership of every (hash, endpoint) pair, tiers, scores.
 * Small hand-checked cases pin down llm-d's greedy any-holder match and the tier weights.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fp_internal.h"

/* ================================================================= approximate */

enum { A_EPS = 6, A_UNIVERSE = 48, A_MAXLEN = 40 };

typedef struct naive_approx {
    uint64_t h[A_EPS][A_MAXLEN + 1]; /* LRU order: oldest first */
    size_t len[A_EPS];
    uint32_t cap[A_EPS];             /* 0 = never added */
} naive_approx;

static void naive_add(naive_approx *m, const uint64_t *h, size_t n, uint32_t ep, uint32_t cap)
{
    if (m->cap[ep] == 0)
        m->cap[ep] = cap;
    for (size_t k = 0; k < n; k++) {
        size_t j = 0;
        while (j < m->len[ep] && m->h[ep][j] != h[k])
            j++;
        if (j < m->len[ep]) {
            memmove(&m->h[ep][j], &m->h[ep][j + 1], (m->len[ep] - j - 1) * sizeof(uint64_t));
            m->len[ep]--;
        }
        m->h[ep][m->len[ep]++] = h[k];
        if (m->len[ep] > m->cap[ep]) {
            memmove(&m->h[ep][0], &m->h[ep][1], (m->len[ep] - 1) * sizeof(uint64_t));
            m->len[ep]--;
        }
    }
}

static bool naive_holds(const naive_approx *m, uint64_t h, uint32_t ep)
{
    for (size_t j = 0; j < m->len[ep]; j++)
        if (m->h[ep][j] == h)
            return true;
    return false;
}

static size_t naive_match(const naive_approx *m, const uint64_t *h, size_t n, uint32_t *counts)
{
    size_t k = 0;
    for (; k < n; k++) {
        bool any = false;
        for (uint32_t ep = 0; ep < A_EPS; ep++)
            if (naive_holds(m, h[k], ep)) {
                counts[ep]++;
                any = true;
            }
        if (!any)
            break;
    }
    return k;
}

/* Hashes: small values (dense home buckets) and large ones that collide in the low bits. */
static uint64_t draw_hash(fp_rng *r)
{
    uint64_t v = fp_rng_below(r, A_UNIVERSE);
    return v % 3 == 0 ? v << 40 : v + 1;
}

static void check_approx(const fp__approx *ix, const naive_approx *m)
{
    for (uint32_t ep = 0; ep < A_EPS; ep++) {
        assert_int_equal(fp__approx_len(ix, ep), m->len[ep]);
        for (uint64_t v = 0; v < A_UNIVERSE; v++) {
            uint64_t h = v % 3 == 0 ? v << 40 : v + 1;
            assert_int_equal(fp__approx_holds(ix, h, ep), naive_holds(m, h, ep));
        }
    }
}

static void approx_step(fp__approx *ix, naive_approx *m, fp_rng *r)
{
    uint64_t h[12];
    size_t n = 1 + fp_rng_below(r, 12);
    for (size_t k = 0; k < n; k++)
        h[k] = draw_hash(r);
    uint32_t ep = (uint32_t)fp_rng_below(r, A_EPS);
    uint64_t op = fp_rng_below(r, 100);
    if (op < 55) {
        uint32_t cap = 1 + (uint32_t)fp_rng_below(r, A_MAXLEN);
        assert_int_equal(fp__approx_add(ix, h, n, ep, cap), 0);
        naive_add(m, h, n, ep, cap);
    } else if (op < 97) {
        uint32_t got[A_EPS] = { 0 }, want[A_EPS] = { 0 }, touched[A_EPS];
        size_t nt = 0;
        assert_int_equal(fp__approx_match(ix, h, n, got, touched, &nt), naive_match(m, h, n, want));
        assert_memory_equal(got, want, sizeof got);
        for (size_t i = 0; i < nt; i++)   /* touched lists each endpoint with a count once */
            for (size_t j = i + 1; j < nt; j++)
                assert_int_not_equal(touched[i], touched[j]);
        size_t nonzero = 0;
        for (int i = 0; i < A_EPS; i++)
            nonzero += want[i] > 0;
        assert_int_equal(nt, nonzero);
    } else {
        fp__approx_remove_ep(ix, ep);
        m->len[ep] = 0;
        m->cap[ep] = 0;
    }
}

static void test_approx_vs_naive(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        fp_rng r;
        fp_rng_seed(&r, seed);
        fp__approx *ix = fp__approx_new();
        naive_approx *m = calloc(1, sizeof *m);
        assert_non_null(ix);
        assert_non_null(m);
        for (int step = 0; step < 6000; step++) {
            approx_step(ix, m, &r);
            check_approx(ix, m);
        }
        fp__approx_free(ix);
        free(m);
    }
}

/* Many touches of a few hashes in a small LRU: constant reordering and eviction. */
static void test_approx_repeated_touches(void **state)
{
    (void)state;
    fp__approx *ix = fp__approx_new();
    naive_approx m = { 0 };
    fp_rng r;
    fp_rng_seed(&r, 99);
    for (int i = 0; i < 20000; i++) {
        uint64_t h = 1 + fp_rng_below(&r, 6);
        assert_int_equal(fp__approx_add(ix, &h, 1, 0, 4), 0);
        naive_add(&m, &h, 1, 0, 4);
    }
    check_approx(ix, &m);
    fp__approx_free(ix);
}

/* A large index grows its tables and node pool; evictions keep lengths at capacity. */
static void test_approx_growth(void **state)
{
    (void)state;
    fp__approx *ix = fp__approx_new();
    uint64_t h[100];
    for (uint64_t req = 0; req < 2000; req++) {
        for (int k = 0; k < 100; k++)
            h[k] = req * 1000 + (uint64_t)k + 1;
        assert_int_equal(fp__approx_add(ix, h, 100, (uint32_t)(req % 5), 3000), 0);
    }
    for (uint32_t ep = 0; ep < 5; ep++)
        assert_int_equal(fp__approx_len(ix, ep), 3000);
    /* The newest request's hashes are held, the oldest are gone. */
    assert_true(fp__approx_holds(ix, 1999 * 1000 + 1, 1999 % 5));
    assert_false(fp__approx_holds(ix, 1, 0));
    fp__approx_free(ix);
}

/*
 * llm-d's match is greedy over any holder, not a per-endpoint consecutive match: an
 * endpoint whose LRU lost the first blocks still counts the later ones it holds, as long
 * as some endpoint holds every block before them.
 */
static void test_approx_greedy_any_holder(void **state)
{
    (void)state;
    fp__approx *ix = fp__approx_new();
    const uint64_t h[5] = { 11, 12, 13, 14, 15 };
    assert_int_equal(fp__approx_add(ix, h, 5, 0, 100), 0);  /* ep 0 holds all */
    assert_int_equal(fp__approx_add(ix, h, 5, 1, 3), 0);    /* ep 1 keeps 13, 14, 15 */
    assert_false(fp__approx_holds(ix, 11, 1));
    uint32_t counts[2] = { 0 }, touched[2];
    size_t nt = 0;
    assert_int_equal(fp__approx_match(ix, h, 5, counts, touched, &nt), 5);
    assert_int_equal(counts[0], 5);
    assert_int_equal(counts[1], 3);
    /* The walk stops at the first hash nobody holds. */
    const uint64_t q[4] = { 11, 99, 13, 14 };
    memset(counts, 0, sizeof counts);
    nt = 0;
    assert_int_equal(fp__approx_match(ix, q, 4, counts, touched, &nt), 1);
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[1], 0);
    fp__approx_free(ix);
}

/* ================================================================= precise */

enum { P_EPS = 6, P_UNIVERSE = 20, P_MAX_KEYS = 12, P_PER_KEY = 3 };

typedef struct naive_key {
    uint64_t key;
    uint32_t ep[P_PER_KEY + 1];  /* holders, oldest first */
    unsigned tiers[P_PER_KEY + 1];
    size_t n;
} naive_key;

typedef struct naive_precise {
    naive_key k[P_UNIVERSE + 1]; /* keys, least recently stored first */
    size_t n;
} naive_precise;

static int nk_find(const naive_precise *m, uint64_t key)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->k[i].key == key)
            return (int)i;
    return -1;
}

static void nk_drop(naive_precise *m, size_t i)
{
    memmove(&m->k[i], &m->k[i + 1], (m->n - i - 1) * sizeof m->k[0]);
    m->n--;
}

static void nh_drop(naive_key *k, size_t j)
{
    memmove(&k->ep[j], &k->ep[j + 1], (k->n - j - 1) * sizeof k->ep[0]);
    memmove(&k->tiers[j], &k->tiers[j + 1], (k->n - j - 1) * sizeof k->tiers[0]);
    k->n--;
}

static void naive_store(naive_precise *m, uint32_t ep, uint64_t key, unsigned bit)
{
    int i = nk_find(m, key);
    naive_key k = { .key = key };
    if (i >= 0) {
        k = m->k[i];
        nk_drop(m, (size_t)i);
    } else if (m->n >= P_MAX_KEYS) {
        nk_drop(m, 0);
    }
    size_t j = 0;
    while (j < k.n && k.ep[j] != ep)
        j++;
    unsigned tiers = bit;
    if (j < k.n) {
        tiers |= k.tiers[j];
        nh_drop(&k, j);
    } else if (k.n >= P_PER_KEY) {
        nh_drop(&k, 0);
    }
    k.ep[k.n] = ep;
    k.tiers[k.n++] = tiers;
    m->k[m->n++] = k;
}

static void naive_remove(naive_precise *m, uint32_t ep, uint64_t key, unsigned bit)
{
    int i = nk_find(m, key);
    if (i < 0)
        return;
    naive_key *k = &m->k[i];
    for (size_t j = 0; j < k->n; j++)
        if (k->ep[j] == ep && (k->tiers[j] &= ~bit) == 0) {
            nh_drop(k, j);
            break;
        }
    if (k->n == 0)
        nk_drop(m, (size_t)i);
}

static void naive_clear(naive_precise *m, uint32_t ep)
{
    for (size_t i = m->n; i-- > 0;) {
        naive_key *k = &m->k[i];
        for (size_t j = 0; j < k->n; j++)
            if (k->ep[j] == ep) {
                nh_drop(k, j);
                break;
            }
        if (k->n == 0)
            nk_drop(m, i);
    }
}

static unsigned naive_tiers(const naive_precise *m, uint64_t key, uint32_t ep)
{
    int i = nk_find(m, key);
    for (size_t j = 0; i >= 0 && j < m->k[i].n; j++)
        if (m->k[i].ep[j] == ep)
            return m->k[i].tiers[j];
    return 0;
}

typedef struct scores {
    double w[P_EPS];
    int calls[P_EPS];
} scores;

static void collect(void *ctx, uint32_t ep, double w)
{
    scores *s = ctx;
    s->w[ep] = w;
    s->calls[ep]++;
}

static void check_score(const fp__precise *ix, const naive_precise *m, const uint64_t *k, size_t n)
{
    scores got = { { 0 }, { 0 } };
    fp__precise_score(ix, k, n, collect, &got);
    for (uint32_t ep = 0; ep < P_EPS; ep++) {
        double want = 0;
        for (size_t b = 0; b < n; b++) {
            unsigned t = naive_tiers(m, k[b], ep);
            if (!t)
                break;
            want += (t & 1u) ? 1.0 : 0.8;
        }
        assert_true(fabs(got.w[ep] - want) < 1e-9);
        assert_int_equal(got.calls[ep], want > 0 ? 1 : 0);
    }
}

static void check_precise(const fp__precise *ix, const naive_precise *m)
{
    assert_int_equal(fp__precise_nkeys(ix), m->n);
    for (uint64_t key = 1; key <= P_UNIVERSE; key++)
        for (uint32_t ep = 0; ep < P_EPS; ep++)
            assert_int_equal(fp__precise_tiers(ix, key * 0x10000000001ull, ep),
                             naive_tiers(m, key * 0x10000000001ull, ep));
}

static void precise_step(fp__precise *ix, naive_precise *m, fp_rng *r)
{
    uint64_t k[8];
    size_t n = 1 + fp_rng_below(r, 8);
    for (size_t i = 0; i < n; i++)
        k[i] = (1 + fp_rng_below(r, P_UNIVERSE)) * 0x10000000001ull;
    uint32_t ep = (uint32_t)fp_rng_below(r, P_EPS);
    unsigned tier = (unsigned)fp_rng_below(r, 2);
    uint64_t op = fp_rng_below(r, 100);
    if (op < 45) {
        assert_int_equal(fp__precise_store(ix, ep, k, n, tier), 0);
        for (size_t i = 0; i < n; i++)
            naive_store(m, ep, k[i], 1u << tier);
    } else if (op < 70) {
        fp__precise_remove(ix, ep, k, n, tier);
        for (size_t i = 0; i < n; i++)
            naive_remove(m, ep, k[i], 1u << tier);
    } else if (op < 98) {
        check_score(ix, m, k, n);
    } else {
        fp__precise_clear_ep(ix, ep);
        naive_clear(m, ep);
    }
}

static void test_precise_vs_naive(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        fp_rng r;
        fp_rng_seed(&r, seed * 7);
        fp__precise *ix = fp__precise_new(P_MAX_KEYS, P_PER_KEY);
        naive_precise *m = calloc(1, sizeof *m);
        assert_non_null(ix);
        for (int step = 0; step < 6000; step++) {
            precise_step(ix, m, &r);
            check_precise(ix, m);
        }
        fp__precise_free(ix);
        free(m);
    }
}

/* Longest consecutive prefix per endpoint, weighted gpu 1.0 / cpu 0.8 (best tier). */
static void test_precise_consecutive_and_tiers(void **state)
{
    (void)state;
    fp__precise *ix = fp__precise_new(1000, 10);
    const uint64_t k[4] = { 101, 102, 103, 104 };
    assert_int_equal(fp__precise_store(ix, 0, k, 4, FP_TIER_GPU), 0);
    assert_int_equal(fp__precise_store(ix, 1, k, 1, FP_TIER_CPU), 0);      /* 101 on cpu */
    assert_int_equal(fp__precise_store(ix, 1, k + 2, 2, FP_TIER_GPU), 0);  /* 103, 104 */
    assert_int_equal(fp__precise_store(ix, 2, k + 1, 3, FP_TIER_GPU), 0);  /* no 101 */
    assert_int_equal(fp__precise_store(ix, 3, k, 2, FP_TIER_CPU), 0);
    assert_int_equal(fp__precise_store(ix, 3, k, 1, FP_TIER_GPU), 0);      /* 101 both */
    scores s = { { 0 }, { 0 } };
    fp__precise_score(ix, k, 4, collect, &s);
    assert_true(fabs(s.w[0] - 4.0) < 1e-12);
    assert_true(fabs(s.w[1] - 0.8) < 1e-12);   /* stops at the missing 102 */
    assert_int_equal(s.calls[2], 0);           /* no first block, no prefix */
    assert_true(fabs(s.w[3] - 1.8) < 1e-12);   /* gpu beats cpu for 101, cpu for 102 */
    fp__precise_remove(ix, 0, k + 1, 1, FP_TIER_GPU);
    memset(&s, 0, sizeof s);
    fp__precise_score(ix, k, 4, collect, &s);
    assert_true(fabs(s.w[0] - 1.0) < 1e-12);
    fp__precise_clear_ep(ix, 3);
    assert_int_equal(fp__precise_tiers(ix, 101, 3), 0);
    fp__precise_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approx_vs_naive),
        cmocka_unit_test(test_approx_repeated_touches),
        cmocka_unit_test(test_approx_growth),
        cmocka_unit_test(test_approx_greedy_any_holder),
        cmocka_unit_test(test_precise_vs_naive),
        cmocka_unit_test(test_precise_consecutive_and_tiers),
    };
    return cmocka_run_group_tests_name("policy_index", tests, NULL, NULL);
}
