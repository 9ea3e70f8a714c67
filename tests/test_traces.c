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

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const ft_source_ops count_ops = { "count", count_next, count_destroy };

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
        cmocka_unit_test(test_hash_seed_chaining),
        cmocka_unit_test(test_hash_vs_naive_random),
    };
    return cmocka_run_group_tests_name("traces", tests, NULL, NULL);
}
