/*
 * test_evq.c: cmocka tests of the event queue (sim/evq.c).
 *
 * The main test drives the real queue and a naive model -- a plain array kept sorted
 * by (time, priority, insertion sequence) -- with the same long random sequence of
 * pushes (many equal times and priorities), cancels (live, popped, cancelled and forged
 * handles) and pops, and compares every result, as SQLite's bitvec test does. Focused
 * tests pin the ordering and clock rules one at a time. Workload: a few hundred
 * thousand operations with a fixed-seed PRNG, so runs are reproducible and fast under
 * AddressSanitizer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evq.h"

/* --- a fixed-seed PRNG (splitmix64), independent of libc --- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

/* --- the naive model: a sorted array --- */

typedef struct model_ev {
    fs_ns time;
    int priority;
    uint64_t seq;
    int kind;
    void *data;
    fs_event_id id;
} model_ev;

typedef struct model {
    model_ev *ev;
    size_t len, cap;
    uint64_t next_seq;
    fs_ns now;
} model;

static int model_cmp(const model_ev *a, const model_ev *b)
{
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    return a->seq < b->seq ? -1 : (a->seq > b->seq);
}

static void model_push(model *m, const model_ev *e)
{
    if (m->len == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->ev = realloc(m->ev, m->cap * sizeof *m->ev);
        assert_non_null(m->ev);
    }
    size_t i = m->len;
    while (i > 0 && model_cmp(e, &m->ev[i - 1]) < 0) {
        m->ev[i] = m->ev[i - 1];
        i--;
    }
    m->ev[i] = *e;
    m->len++;
}

static void model_remove(model *m, size_t i)
{
    memmove(&m->ev[i], &m->ev[i + 1], (m->len - i - 1) * sizeof *m->ev);
    m->len--;
}

/* Index of the pending event with this id, or -1. */
static long model_find(const model *m, fs_event_id id)
{
    for (size_t i = 0; i < m->len; i++)
        if (m->ev[i].id == id)
            return (long)i;
    return -1;
}

/* --- the random differential test --- */

typedef struct harness {
    fs_evq *q;
    model m;
    fs_event_id *issued;    /* every handle ever returned, for stale-handle cancels */
    size_t nissued, cap_issued;
    size_t cancelled, refused, max_len;     /* coverage of the random run */
} harness;

static void remember(harness *h, fs_event_id id)
{
    if (h->nissued == h->cap_issued) {
        h->cap_issued = h->cap_issued ? 2 * h->cap_issued : 256;
        h->issued = realloc(h->issued, h->cap_issued * sizeof *h->issued);
        assert_non_null(h->issued);
    }
    h->issued[h->nissued++] = id;
}

static void op_push(harness *h)
{
    /* Small offsets and few priorities make equal keys common. */
    fs_ns t = h->m.now + (fs_ns)rng_below(4) * (rng_below(8) == 0 ? 1000 : 1);
    int prio = (int)rng_below(3) - 1;
    int kind = (int)rng_below(1000);
    void *data = (void *)(uintptr_t)(h->m.next_seq + 1);
    fs_event_id id = fs_evq_push(h->q, t, prio, kind, data);
    assert_int_not_equal(id, 0);
    assert_int_equal(model_find(&h->m, id), -1);
    model_ev e = { t, prio, h->m.next_seq++, kind, data, id };
    model_push(&h->m, &e);
    remember(h, id);
}

static void op_pop(harness *h)
{
    if (h->m.len == 0) {
        fs_event pk;
        assert_false(fs_evq_peek(h->q, &pk));
        return;
    }
    fs_event got;
    fs_evq_pop(h->q, &got);
    model_ev want = h->m.ev[0];
    model_remove(&h->m, 0);
    h->m.now = want.time;
    assert_int_equal(got.time, want.time);
    assert_int_equal(got.priority, want.priority);
    assert_int_equal(got.kind, want.kind);
    assert_ptr_equal(got.data, want.data);
    assert_int_equal(got.id, want.id);
}

/* Picks a handle to cancel: a pending one, any issued one, or a forged one. */
static fs_event_id pick_handle(const harness *h)
{
    uint64_t r = rng_below(10);
    if (r < 5 && h->m.len > 0)
        return h->m.ev[rng_below(h->m.len)].id;
    if (r < 9 && h->nissued > 0)
        return h->issued[rng_below(h->nissued)];
    return r == 9 && rng_below(2) ? 0 : rng_next();
}

static void op_cancel(harness *h)
{
    fs_event_id id = pick_handle(h);
    long i = model_find(&h->m, id);
    bool got = fs_evq_cancel(h->q, id);
    assert_int_equal(got, i >= 0);
    if (i >= 0)
        model_remove(&h->m, (size_t)i);
    *(got ? &h->cancelled : &h->refused) += 1;
}

static void check_state(const harness *h)
{
    assert_int_equal(fs_evq_size(h->q), h->m.len);
    assert_int_equal(fs_evq_now(h->q), h->m.now);
    fs_event pk;
    bool have = fs_evq_peek(h->q, &pk);
    assert_int_equal(have, h->m.len > 0);
    if (have) {
        assert_int_equal(pk.id, h->m.ev[0].id);
        assert_int_equal(pk.time, h->m.ev[0].time);
    }
}

/* Runs `steps` random operations; push_weight out of 10 decides growth vs drain. */
static void run_random(harness *h, size_t steps, uint64_t push_weight)
{
    for (size_t s = 0; s < steps; s++) {
        uint64_t r = rng_below(10);
        if (r < push_weight)
            op_push(h);
        else if (r < push_weight + 2)
            op_cancel(h);
        else
            op_pop(h);
        check_state(h);
        if (h->m.len > h->max_len)
            h->max_len = h->m.len;
    }
}

static void test_random_against_model(void **state)
{
    (void)state;
    harness h = { 0 };
    h.q = fs_evq_new();
    assert_non_null(h.q);
    rng_state = 20240611;
    for (int phase = 0; phase < 6; phase++)
        run_random(&h, 20000, phase % 2 == 0 ? 6 : 3); /* fill, drain, fill, ... */
    while (h.m.len > 0) {
        op_pop(&h);
        check_state(&h);
    }
    /* The run really exercised growth, live cancels and stale/forged cancels. */
    assert_true(h.nissued > 40000);
    assert_true(h.max_len > 5000);
    assert_true(h.cancelled > 5000);
    assert_true(h.refused > 5000);
    fs_evq_free(h.q);
    free(h.m.ev);
    free(h.issued);
}

/* --- focused tests --- */

static void test_fifo_among_equal_keys(void **state)
{
    (void)state;
    fs_evq *q = fs_evq_new();
    assert_non_null(q);
    for (int i = 0; i < 100; i++)
        assert_int_not_equal(fs_evq_push(q, 50, 1, i, NULL), 0);
    for (int i = 0; i < 100; i++) {
        fs_event e;
        fs_evq_pop(q, &e);
        assert_int_equal(e.kind, i);
        assert_int_equal(e.time, 50);
    }
    assert_int_equal(fs_evq_size(q), 0);
    fs_evq_free(q);
}

static void test_priority_then_time_order(void **state)
{
    (void)state;
    fs_evq *q = fs_evq_new();
    assert_non_null(q);
    fs_evq_push(q, 10, 5, 0, NULL);
    fs_evq_push(q, 10, -3, 1, NULL);
    fs_evq_push(q, 5, 9, 2, NULL);
    fs_evq_push(q, 10, 0, 3, NULL);
    fs_evq_push(q, 10, -3, 4, NULL);
    int want[] = { 2, 1, 4, 3, 0 };  /* earlier time wins over any priority */
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        fs_event e;
        fs_evq_pop(q, &e);
        assert_int_equal(e.kind, want[i]);
    }
    fs_evq_free(q);
}

static void test_clock_advances_only_on_pop(void **state)
{
    (void)state;
    fs_evq *q = fs_evq_new();
    assert_non_null(q);
    assert_int_equal(fs_evq_now(q), 0);
    fs_event_id a = fs_evq_push(q, 100, 0, 0, NULL);
    fs_evq_push(q, 300, 0, 1, NULL);
    assert_int_equal(fs_evq_now(q), 0);
    assert_true(fs_evq_cancel(q, a));
    assert_int_equal(fs_evq_now(q), 0);     /* cancelling the head does not move it */
    fs_event e;
    fs_evq_pop(q, &e);
    assert_int_equal(fs_evq_now(q), 300);
    fs_evq_push(q, 300, 0, 2, NULL);        /* == now is allowed */
    fs_evq_pop(q, &e);
    assert_int_equal(e.kind, 2);
    assert_int_equal(fs_evq_now(q), 300);
    fs_evq_free(q);
}

static void test_cancel_stale_handles(void **state)
{
    (void)state;
    fs_evq *q = fs_evq_new();
    assert_non_null(q);
    fs_event_id a = fs_evq_push(q, 1, 0, 0, NULL);
    fs_event_id b = fs_evq_push(q, 2, 0, 1, NULL);
    fs_event e;
    fs_evq_pop(q, &e);
    assert_int_equal(e.id, a);
    assert_false(fs_evq_cancel(q, a));      /* already popped */
    assert_true(fs_evq_cancel(q, b));
    assert_false(fs_evq_cancel(q, b));      /* already cancelled */
    /* The freed slots are reused; the old handles must not reach the new events. */
    fs_event_id c = fs_evq_push(q, 3, 0, 2, NULL);
    fs_event_id d = fs_evq_push(q, 4, 0, 3, NULL);
    assert_true(c != a && c != b && d != a && d != b);
    assert_false(fs_evq_cancel(q, a));
    assert_false(fs_evq_cancel(q, b));
    assert_int_equal(fs_evq_size(q), 2);
    assert_false(fs_evq_cancel(q, 0));
    assert_false(fs_evq_cancel(q, UINT64_MAX));
    assert_true(fs_evq_cancel(q, d));
    assert_true(fs_evq_cancel(q, c));
    assert_int_equal(fs_evq_size(q), 0);
    fs_evq_free(q);
}

static void test_peek_does_not_advance(void **state)
{
    (void)state;
    fs_evq *q = fs_evq_new();
    assert_non_null(q);
    fs_event e;
    assert_false(fs_evq_peek(q, &e));
    int payload;
    fs_event_id id = fs_evq_push(q, 42, 7, 9, &payload);
    for (int i = 0; i < 3; i++) {
        assert_true(fs_evq_peek(q, &e));
        assert_int_equal(e.time, 42);
        assert_int_equal(e.priority, 7);
        assert_int_equal(e.kind, 9);
        assert_ptr_equal(e.data, &payload);
        assert_int_equal(e.id, id);
        assert_int_equal(fs_evq_now(q), 0);
        assert_int_equal(fs_evq_size(q), 1);
    }
    fs_evq_pop(q, &e);
    assert_int_equal(e.id, id);
    assert_int_equal(fs_evq_now(q), 42);
    assert_false(fs_evq_peek(q, &e));
    fs_evq_free(q);
}

/* Growth past many doublings, descending times (every push sifts to the root). */
static void test_many_events_sorted(void **state)
{
    (void)state;
    enum { N = 100000 };
    fs_evq *q = fs_evq_new();
    assert_non_null(q);
    for (int i = 0; i < N; i++)
        assert_int_not_equal(fs_evq_push(q, N - i, 0, i, NULL), 0);
    assert_int_equal(fs_evq_size(q), N);
    fs_ns prev = 0;
    for (int i = 0; i < N; i++) {
        fs_event e;
        fs_evq_pop(q, &e);
        assert_true(e.time > prev);
        assert_int_equal(e.kind, N - 1 - i);
        prev = e.time;
    }
    fs_evq_free(q);
}

static void test_free_null(void **state)
{
    (void)state;
    fs_evq_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_fifo_among_equal_keys),
        cmocka_unit_test(test_priority_then_time_order),
        cmocka_unit_test(test_clock_advances_only_on_pop),
        cmocka_unit_test(test_cancel_stale_handles),
        cmocka_unit_test(test_peek_does_not_advance),
        cmocka_unit_test(test_many_events_sorted),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests_name("evq", tests, NULL, NULL);
}
