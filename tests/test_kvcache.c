/*
 * test_kvcache.c: cmocka tests of the KV block pool with prefix caching (sim/kvcache).
 *
 * The pool is driven side by side with a naive model (plain arrays: a reference count
 * and an optional hash per block, the free queue as an array scanned linearly, hash
 * lookups by scanning every block) through random allocate / hit / free / cache /
 * lookup sequences with a fixed seed; every result, every block's state, the whole
 * free-queue order and the hook events are compared after every operation. Keys are
 * drawn from a small set, half of them landing in one home bucket, so duplicate
 * registrations, long probe clusters and deletions inside clusters all happen. Small
 * hand-checked cases pin down the LRU order and lazy eviction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvcache.h"

/* ---------------------------------------------------------------- hook log */

typedef struct hook_log {
    uint64_t stored[64], removed[64];
    int nstored, nremoved;
} hook_log;

static void on_stored(void *ctx, uint64_t h)
{
    hook_log *l = ctx;
    assert_true(l->nstored < 64);
    l->stored[l->nstored++] = h;
}

static void on_removed(void *ctx, uint64_t h)
{
    hook_log *l = ctx;
    assert_true(l->nremoved < 64);
    l->removed[l->nremoved++] = h;
}

static fs_kv *new_pool(int64_t n, hook_log *log)
{
    fs_kv_hooks hooks = { log, on_stored, on_removed };
    fs_kv *kv = NULL;
    assert_int_equal(fs_kv_new(n, &hooks, &kv), 0);
    assert_non_null(kv);
    return kv;
}

static void assert_order(const fs_kv *kv, const int32_t *want, size_t n)
{
    int32_t got[64];
    assert_int_equal(fs_kv_free_order(kv, got, 64), n);
    assert_memory_equal(got, want, n * sizeof *want);
}

static void assert_check(const fs_kv *kv)
{
    char *err = NULL;
    int rc = fs_kv_check(kv, &err);
    if (rc)
        fail_msg("fs_kv_check: %s", err ? err : "?");
    free(err);
}

/* ---------------------------------------------------------------- hand-checked */

static void test_bad_count(void **state)
{
    (void)state;
    fs_kv *kv = (fs_kv *)1;
    assert_int_equal(fs_kv_new(0, NULL, &kv), -EINVAL);
    assert_null(kv);
    assert_int_equal(fs_kv_new(-5, NULL, &kv), -EINVAL);
    assert_int_equal(fs_kv_new(INT32_MAX, NULL, &kv), -EINVAL);
    fs_kv_free(NULL);
}

static void test_initial_state(void **state)
{
    (void)state;
    hook_log log = { 0 };
    fs_kv *kv = new_pool(5, &log);
    assert_int_equal(fs_kv_total(kv), 5);
    assert_int_equal(fs_kv_num_free(kv), 5);
    assert_int_equal(fs_kv_num_cached(kv), 0);
    assert_true(fs_kv_usage(kv) == 0.0);
    assert_order(kv, (int32_t[]){ 0, 1, 2, 3, 4 }, 5);
    assert_int_equal(fs_kv_find(kv, 42), -1);
    assert_check(kv);
    fs_kv_free(kv);
}

/* Freed tables go to the tail in reverse order; pops take the least recently freed. */
static void test_lru_order(void **state)
{
    (void)state;
    hook_log log = { 0 };
    fs_kv *kv = new_pool(8, &log);
    int32_t a[3], b[3];
    for (int i = 0; i < 3; i++)
        a[i] = fs_kv_pop(kv);
    for (int i = 0; i < 3; i++)
        b[i] = fs_kv_pop(kv);
    assert_memory_equal(a, ((int32_t[]){ 0, 1, 2 }), sizeof a);
    assert_memory_equal(b, ((int32_t[]){ 3, 4, 5 }), sizeof b);
    assert_true(fs_kv_usage(kv) == 0.75);
    fs_kv_release(kv, a, 3);
    assert_order(kv, (int32_t[]){ 6, 7, 2, 1, 0 }, 5);
    fs_kv_release(kv, b, 3);
    assert_order(kv, (int32_t[]){ 6, 7, 2, 1, 0, 5, 4, 3 }, 8);
    assert_check(kv);
    int32_t want[] = { 6, 7, 2, 1, 0, 5, 4, 3 };
    for (int i = 0; i < 8; i++)
        assert_int_equal(fs_kv_pop(kv), want[i]);
    assert_int_equal(fs_kv_num_free(kv), 0);
    assert_true(fs_kv_usage(kv) == 1.0);
    assert_check(kv);
    fs_kv_free(kv);
}

/* A shared block returns to the queue only when its last holder frees it. */
static void test_shared_ref(void **state)
{
    (void)state;
    hook_log log = { 0 };
    fs_kv *kv = new_pool(4, &log);
    int32_t x = fs_kv_pop(kv);
    assert_true(fs_kv_cache(kv, x, 7));
    fs_kv_touch(kv, fs_kv_find(kv, 7));
    assert_int_equal(fs_kv_ref(kv, x), 2);
    fs_kv_release(kv, &x, 1);
    assert_int_equal(fs_kv_ref(kv, x), 1);
    assert_int_equal(fs_kv_num_free(kv), 3);
    fs_kv_release(kv, &x, 1);
    assert_int_equal(fs_kv_ref(kv, x), 0);
    assert_order(kv, (int32_t[]){ 1, 2, 3, 0 }, 4);
    assert_check(kv);
    fs_kv_free(kv);
}

/* Freed hashed blocks stay findable until popped; a hit revives them in place. */
static void test_lazy_eviction_and_revival(void **state)
{
    (void)state;
    hook_log log = { 0 };
    fs_kv *kv = new_pool(4, &log);
    int32_t t[2] = { fs_kv_pop(kv), fs_kv_pop(kv) };
    assert_true(fs_kv_cache(kv, t[0], 100));
    assert_true(fs_kv_cache(kv, t[1], 200));
    assert_int_equal(log.nstored, 2);
    assert_int_equal(log.stored[0], 100);
    assert_int_equal(log.stored[1], 200);
    fs_kv_release(kv, t, 2);
    /* queue: 2 3 1 0; both still cached */
    assert_int_equal(fs_kv_num_free(kv), 4);
    assert_int_equal(fs_kv_num_cached(kv), 2);
    assert_int_equal(fs_kv_find(kv, 100), 0);
    assert_int_equal(fs_kv_find(kv, 200), 1);
    /* revival of block 1 from the middle of the queue */
    fs_kv_touch(kv, 1);
    assert_int_equal(fs_kv_ref(kv, 1), 1);
    assert_int_equal(fs_kv_num_free(kv), 3);
    assert_order(kv, (int32_t[]){ 2, 3, 0 }, 3);
    assert_check(kv);
    /* popping the unhashed blocks evicts nothing; popping block 0 evicts hash 100 */
    assert_int_equal(fs_kv_pop(kv), 2);
    assert_int_equal(fs_kv_pop(kv), 3);
    assert_int_equal(log.nremoved, 0);
    assert_int_equal(fs_kv_pop(kv), 0);
    assert_int_equal(log.nremoved, 1);
    assert_int_equal(log.removed[0], 100);
    assert_int_equal(fs_kv_find(kv, 100), -1);
    assert_false(fs_kv_block_hash(kv, 0, NULL));
    assert_int_equal(fs_kv_find(kv, 200), 1);
    assert_int_equal(fs_kv_num_cached(kv), 1);
    assert_check(kv);
    fs_kv_free(kv);
}

/* Registering a hash another block carries keeps the existing mapping. */
static void test_no_dedup(void **state)
{
    (void)state;
    hook_log log = { 0 };
    fs_kv *kv = new_pool(4, &log);
    int32_t a = fs_kv_pop(kv), b = fs_kv_pop(kv);
    assert_true(fs_kv_cache(kv, a, 5));
    assert_false(fs_kv_cache(kv, b, 5));
    assert_int_equal(log.nstored, 1);
    assert_int_equal(fs_kv_find(kv, 5), a);
    uint64_t h = 0;
    assert_true(fs_kv_block_hash(kv, a, &h));
    assert_int_equal(h, 5);
    assert_false(fs_kv_block_hash(kv, b, &h));
    assert_int_equal(fs_kv_num_cached(kv), 1);
    assert_check(kv);
    fs_kv_free(kv);
}

/*
 * Index slots keep 32 bits of the key (the tag); the block validates the rest. Keys
 * 5, 5 + 2^20 and 5 + 2^21 share both their home slot and their tag (the upper 32
 * bits, all zero), so lookups and registrations must look past each other's entries,
 * live or stale, and a stale entry may be reused only when it is certainly stale.
 */
static void test_tag_collisions(void **state)
{
    (void)state;
    const uint64_t a = 5, b = 5 + (UINT64_C(1) << 20), c = 5 + (UINT64_C(1) << 21);
    hook_log log = { 0 };
    fs_kv *kv = new_pool(4, &log);
    int32_t x = fs_kv_pop(kv), y = fs_kv_pop(kv);
    assert_true(fs_kv_cache(kv, x, a));
    assert_true(fs_kv_cache(kv, y, b));
    assert_int_equal(fs_kv_find(kv, a), x);
    assert_int_equal(fs_kv_find(kv, b), y);
    assert_int_equal(fs_kv_find(kv, c), -1);
    assert_check(kv);
    /* x is freed and, popped again, drops a: a's entry goes stale in front of b's */
    fs_kv_release(kv, &x, 1);
    int32_t z = fs_kv_pop(kv), w = fs_kv_pop(kv);
    assert_int_equal(fs_kv_pop(kv), x);
    assert_int_equal(fs_kv_find(kv, a), -1);
    assert_int_equal(fs_kv_find(kv, b), y);
    assert_check(kv);
    /* c takes the stale slot; b is still found behind it, a duplicate b is refused */
    assert_true(fs_kv_cache(kv, z, c));
    assert_false(fs_kv_cache(kv, w, b));
    assert_int_equal(fs_kv_find(kv, c), z);
    assert_int_equal(fs_kv_find(kv, b), y);
    assert_int_equal(fs_kv_find(kv, a), -1);
    /* x carries another same-tag key: its old slots are "maybe live", never reused */
    assert_true(fs_kv_cache(kv, x, a));
    assert_true(fs_kv_cache(kv, w, UINT64_C(7) << 32 | 5));   /* same home, other tag */
    assert_int_equal(fs_kv_find(kv, a), x);
    assert_int_equal(fs_kv_find(kv, b), y);
    assert_int_equal(fs_kv_find(kv, c), z);
    assert_int_equal(fs_kv_find(kv, UINT64_C(7) << 32 | 5), w);
    assert_check(kv);
    fs_kv_free(kv);
}

/*
 * The free queue is a ring with lazy removal: revivals leave stale entries that fill
 * the ring without pops until it is compacted. Revive and re-free in shifting orders,
 * never popping, far past the ring's size (16 entries for 5 blocks: every round adds
 * 5 or 6, so it compacts every two or three rounds), and compare the free order.
 */
static void test_ring_compaction(void **state)
{
    (void)state;
    enum { N = 5, ROUNDS = 200 };
    fs_kv *kv = new_pool(N, NULL);
    int32_t want[N];
    for (int i = 0; i < N; i++)
        want[i] = i;
    for (int r = 0; r < ROUNDS; r++) {
        /* revive the blocks in a rotated order, then free them again in that order */
        int32_t tab[N];
        for (int i = 0; i < N; i++) {
            tab[i] = want[(i + r) % N];
            fs_kv_touch(kv, tab[i]);
        }
        int32_t none[1];
        assert_int_equal(fs_kv_num_free(kv), 0);
        assert_int_equal(fs_kv_free_order(kv, none, 1), 0);
        for (int i = 0; i < N; i++)        /* one at a time: the queue takes tab's order */
            fs_kv_release(kv, &tab[i], 1);
        memcpy(want, tab, sizeof want);
        assert_order(kv, want, N);
        assert_check(kv);
        /* half the time revive one block in the middle and free it again */
        if (r % 2) {
            int32_t b = want[2];
            fs_kv_touch(kv, b);
            fs_kv_release(kv, &b, 1);
            memmove(&want[2], &want[3], (N - 3) * sizeof *want);
            want[N - 1] = b;
            assert_order(kv, want, N);
            assert_check(kv);
        }
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(fs_kv_pop(kv), want[i]);
    assert_check(kv);
    fs_kv_free(kv);
}

/* ---------------------------------------------------------------- naive model */

#define NB 24          /* blocks */
#define NT 6           /* block tables ("requests") */
#define TMAX 40        /* blocks per table */

typedef struct model {
    uint32_t ref[NB];
    uint64_t hash[NB];
    bool hashed[NB];
    int32_t queue[NB];
    int nq;
    int32_t tab[NT][TMAX];
    int ntab[NT];
    /* coverage: how often the interesting cases happened */
    long evictions, revivals, shared_hits, duplicates;
} model;

static void model_init(model *m)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < NB; i++)
        m->queue[m->nq++] = i;
}

static int model_find(const model *m, uint64_t h)
{
    for (int i = 0; i < NB; i++)
        if (m->hashed[i] && m->hash[i] == h)
            return i;
    return -1;
}

static void model_unqueue(model *m, int32_t b)
{
    for (int i = 0; i < m->nq; i++) {
        if (m->queue[i] != b)
            continue;
        memmove(&m->queue[i], &m->queue[i + 1], (size_t)(m->nq - i - 1) * sizeof *m->queue);
        m->nq--;
        return;
    }
    fail_msg("block %d not in the model's queue", (int)b);
}

/* Small key space: half the keys share home bucket 0 (multiples of 2^32). */
static uint64_t draw_key(unsigned *seed)
{
    uint64_t k = (uint64_t)(rand_r(seed) % 12);
    return rand_r(seed) % 2 ? k << 32 : k * UINT64_C(0x9e3779b97f4a7c15) + 1;
}

static void compare(const fs_kv *kv, const model *m)
{
    assert_int_equal(fs_kv_num_free(kv), m->nq);
    assert_order(kv, m->queue, (size_t)m->nq);
    int64_t cached = 0;
    for (int i = 0; i < NB; i++) {
        uint64_t h = 0;
        assert_int_equal(fs_kv_ref(kv, i), m->ref[i]);
        assert_int_equal(fs_kv_block_hash(kv, i, &h), m->hashed[i]);
        if (m->hashed[i]) {
            assert_int_equal(h, m->hash[i]);
            assert_int_equal(fs_kv_find(kv, h), i);
        }
        cached += m->hashed[i];
    }
    assert_int_equal(fs_kv_num_cached(kv), cached);
    assert_check(kv);
}

/* Allocation: pop the head; it loses its hash (one removed event). */
static void op_pop(fs_kv *kv, model *m, hook_log *log, int t)
{
    if (m->nq == 0 || m->ntab[t] == TMAX)
        return;
    int32_t want = m->queue[0];
    int nremoved = log->nremoved;
    int32_t got = fs_kv_pop(kv);
    assert_int_equal(got, want);
    model_unqueue(m, want);
    if (m->hashed[want]) {
        m->evictions++;
        assert_int_equal(log->nremoved, nremoved + 1);
        assert_int_equal(log->removed[nremoved], m->hash[want]);
        m->hashed[want] = false;
    } else {
        assert_int_equal(log->nremoved, nremoved);
    }
    log->nremoved = 0;
    m->ref[want] = 1;
    m->tab[t][m->ntab[t]++] = want;
}

/* A prefix hit: look a key up and take a reference when found. */
static void op_hit(fs_kv *kv, model *m, int t, uint64_t key)
{
    int want = model_find(m, key);
    assert_int_equal(fs_kv_find(kv, key), want);
    if (want < 0 || m->ntab[t] == TMAX)
        return;
    fs_kv_touch(kv, want);
    if (m->ref[want] == 0)
        m->revivals++;
    else
        m->shared_hits++;
    if (m->ref[want]++ == 0)
        model_unqueue(m, want);
    m->tab[t][m->ntab[t]++] = want;
}

static void op_release(fs_kv *kv, model *m, int t)
{
    fs_kv_release(kv, m->tab[t], (size_t)m->ntab[t]);
    for (int i = m->ntab[t] - 1; i >= 0; i--) {
        int32_t b = m->tab[t][i];
        if (--m->ref[b] == 0)
            m->queue[m->nq++] = b;
    }
    m->ntab[t] = 0;
}

/* Registers an unhashed block of table t under key. */
static void op_cache(fs_kv *kv, model *m, hook_log *log, int t, uint64_t key, unsigned *seed)
{
    if (m->ntab[t] == 0)
        return;
    int32_t b = m->tab[t][rand_r(seed) % m->ntab[t]];
    if (m->hashed[b])
        return;
    bool fresh = model_find(m, key) < 0;
    assert_int_equal(fs_kv_cache(kv, b, key), fresh);
    assert_int_equal(log->nstored, fresh ? 1 : 0);
    if (fresh)
        assert_int_equal(log->stored[0], key);
    log->nstored = 0;
    m->duplicates += !fresh;
    if (fresh) {
        m->hashed[b] = true;
        m->hash[b] = key;
    }
}

static void test_against_model(void **state)
{
    (void)state;
    hook_log log = { 0 };
    fs_kv *kv = new_pool(NB, &log);
    model m;
    model_init(&m);
    unsigned seed = 12345;
    for (int step = 0; step < 200000; step++) {
        int t = rand_r(&seed) % NT;
        int op = rand_r(&seed) % 10;
        if (op < 4)
            op_pop(kv, &m, &log, t);
        else if (op < 6)
            op_hit(kv, &m, t, draw_key(&seed));
        else if (op < 7)
            op_release(kv, &m, t);
        else
            op_cache(kv, &m, &log, t, draw_key(&seed), &seed);
        if (step % 7 == 0 || step < 2000)
            compare(kv, &m);
    }
    compare(kv, &m);
    assert_true(m.evictions > 1000 && m.revivals > 1000 && m.shared_hits > 1000 &&
                m.duplicates > 1000);
    fs_kv_free(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_count),
        cmocka_unit_test(test_initial_state),
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_shared_ref),
        cmocka_unit_test(test_lazy_eviction_and_revival),
        cmocka_unit_test(test_no_dedup),
        cmocka_unit_test(test_ring_compaction),
        cmocka_unit_test(test_tag_collisions),
        cmocka_unit_test(test_against_model),
    };
    return cmocka_run_group_tests_name("kvcache", tests, NULL, NULL);
}
