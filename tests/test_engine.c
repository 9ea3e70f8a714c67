/*
 * test_engine.c: cmocka tests of one replica's engine (sim/engine), vLLM V1 rules.
 *
 * Small hand-checked cases pin the rules of shared/reference/vllm-engine.md §1-§2:
 * chunked-prefill TTFT in steps, decode contexts, the sequence cap and the token
 * budget, prefix hits (partial prefix, and the (len-1)/B cap on a full hit),
 * preemption by recompute (victim = last running, front of the waiting queue, its own
 * unevicted blocks hit on re-admission), priority order and rejections. Randomized
 * runs (random lengths, shared prefixes, tiny block pools that force preemption, all
 * configuration switches) call fs_engine_check() after every schedule and every
 * completion, and check that each request gets exactly max_output tokens, one per
 * step, that no request is admitted in a step that preempted, and that the token
 * counters add up.
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

#include "engine.h"

/* ---------------------------------------------------------------- fixtures */

/* A request with its segments and what the observer saw of it. */
typedef struct treq {
    fs_engine_req r;
    ft_segment segs[3];
    uint32_t tokens;        /* on_token calls */
    fs_ns last_tok;
    bool first_seen;        /* on_first_token called */
    bool finished;
    bool added;
} treq;

typedef struct obs_log {
    long tokens, finished, preempted, stored, removed, first;
    /* later tokens as on_token_gaps reported them, and as on_token implies them */
    uint64_t gap_tokens, want_gap_tokens, gap_calls;
    int64_t gap_sum, want_gap_sum;
    fs_ns run_prev;         /* the last run's gap within the current completion */
    bool run_open;
} obs_log;

/* The log of the engine being stepped, for step()'s checks around each completion. */
static obs_log *cur_log;

/* Completions that reported more than one run (mixed gaps), over all tests so far. */
static long mixed_completions;

static void on_token(void *ctx, fs_engine_req *r, fs_ns now)
{
    obs_log *l = ctx;
    treq *t = r->user;
    assert_int_equal(r->num_output, t->tokens + 1);
    assert_true(t->tokens == 0 || now > t->last_tok);   /* at most one token per step */
    assert_true(r->first_token >= 0 && r->last_token == now);
    assert_true(t->first_seen);
    if (t->tokens > 0) {
        l->want_gap_tokens++;
        l->want_gap_sum += now - t->last_tok;
    }
    t->tokens++;
    t->last_tok = now;
    l->tokens++;
}

static void on_first_token(void *ctx, fs_engine_req *r, fs_ns now)
{
    obs_log *l = ctx;
    treq *t = r->user;
    assert_int_equal(r->num_output, 1);
    assert_int_equal(r->first_token, now);
    assert_false(t->first_seen);
    assert_int_equal(t->tokens, 0);   /* before on_token */
    t->first_seen = true;
    l->first++;
}

/* Runs are maximal inside one completion: consecutive reports differ in gap. */
static void on_token_gaps(void *ctx, fs_ns gap, uint64_t count)
{
    obs_log *l = ctx;
    assert_true(count > 0 && gap > 0);
    if (l->run_open) {
        assert_true(gap != l->run_prev);
        mixed_completions++;
    }
    l->run_open = true;
    l->run_prev = gap;
    l->gap_tokens += count;
    l->gap_calls++;
    l->gap_sum += gap * (int64_t)count;
}

/* Completes the step at now and checks that its later tokens were all reported. */
static void complete(fs_engine *e, obs_log *l, fs_ns now)
{
    l->run_open = false;
    fs_engine_complete(e, now);
    assert_int_equal(l->gap_tokens, l->want_gap_tokens);
    assert_int_equal(l->gap_sum, l->want_gap_sum);
}

static void on_finish(void *ctx, fs_engine_req *r, fs_ns now)
{
    obs_log *l = ctx;
    treq *t = r->user;
    assert_int_equal(r->state, FS_REQ_FINISHED);
    assert_int_equal(r->num_output, r->max_output);
    assert_int_equal(t->tokens, r->max_output);
    assert_null(r->hashes);   /* hashes and block table freed */
    assert_int_equal(r->last_token, now);
    t->finished = true;
    l->finished++;
}

static void on_preempt(void *ctx, fs_engine_req *r, fs_ns now)
{
    obs_log *l = ctx;
    assert_int_equal(r->state, FS_REQ_PREEMPTED);
    assert_int_equal(r->num_computed, 0);
    assert_int_equal(r->nblocks, 0);
    l->preempted++;
}

static void on_stored(void *ctx, uint64_t h)
{
    (void)h;
    ((obs_log *)ctx)->stored++;
}

static void on_removed(void *ctx, uint64_t h)
{
    (void)h;
    ((obs_log *)ctx)->removed++;
}

static fs_engine *new_engine(const fs_engine_config *c, obs_log *log)
{
    fs_engine_observer obs = { log, on_token, on_finish, on_preempt, on_stored, on_removed,
                               on_first_token, on_token_gaps };
    cur_log = log;
    fs_engine *e = NULL;
    char *err = NULL;
    int rc = fs_engine_new(c, &obs, &e, &err);
    if (rc)
        fail_msg("fs_engine_new: %s", err ? err : "?");
    return e;
}

/* A config for hand-checked cases: block 16, plenty of blocks. */
static fs_engine_config small_config(void)
{
    fs_engine_config c;
    fs_engine_config_defaults(&c);
    c.num_blocks = 1000;
    c.max_model_len = 4096;
    return c;
}

/* Sets up t as a request of one or two segments. */
static void make_req(treq *t, uint64_t id, uint64_t c1, uint32_t l1, uint64_t c2, uint32_t l2,
                     uint32_t out)
{
    memset(t, 0, sizeof *t);
    t->segs[0] = (ft_segment){ c1, l1 };
    t->segs[1] = (ft_segment){ c2, l2 };
    t->r.id = id;
    t->r.segs = t->segs;
    t->r.nsegs = l2 ? 2 : 1;
    t->r.prompt_len = l1 + l2;
    t->r.max_output = out;
    t->r.user = t;
}

static void add(fs_engine *e, treq *t, fs_ns now)
{
    assert_int_equal(fs_engine_add(e, &t->r, now), 0);
    t->added = true;
}

static void check(const fs_engine *e)
{
    char *err = NULL;
    int rc = fs_engine_check(e, &err);
    if (rc)
        fail_msg("fs_engine_check: %s", err ? err : "?");
    free(err);
}

/* Schedules one step at *now, expecting `want` sequences (-1: any), completes it 10 ns
 * later; copies the batch to out (may be NULL). Returns the batch size. */
static size_t step(fs_engine *e, fs_ns *now, long want, fm_seq_work *out)
{
    size_t n = fs_engine_schedule(e, *now), m = 0;
    if (want >= 0)
        assert_int_equal(n, (size_t)want);
    check(e);
    const fm_seq_work *b = fs_engine_batch(e, &m);
    assert_int_equal(m, n);
    if (out && n)
        memcpy(out, b, n * sizeof *b);
    *now += 10;
    if (n)
        complete(e, cur_log, *now);
    check(e);
    return n;
}

static void assert_work(const fm_seq_work *w, uint32_t new_tokens, uint32_t context)
{
    assert_int_equal(w->new_tokens, new_tokens);
    assert_int_equal(w->context, context);
}

/* ---------------------------------------------------------------- configuration */

static void test_config_errors(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    fs_engine *e = (fs_engine *)1;
    char *err = NULL;
    c.block_size = 0;
    assert_int_equal(fs_engine_new(&c, NULL, &e, &err), -EINVAL);
    assert_null(e);
    assert_non_null(strstr(err, "block_size"));
    free(err);
    c = small_config();
    c.enable_chunked_prefill = false;
    c.max_num_batched_tokens = 2048;   /* < max_model_len: a long prompt could never run */
    err = NULL;
    assert_int_equal(fs_engine_new(&c, NULL, &e, &err), -EINVAL);
    assert_non_null(strstr(err, "chunked"));
    free(err);
    c = small_config();
    c.num_blocks = 0;
    assert_int_equal(fs_engine_new(&c, NULL, &e, NULL), -EINVAL);
    fs_engine_free(NULL);
}

static void test_rejections(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.num_blocks = 7;           /* 112 tokens at B = 16 */
    c.max_model_len = 200;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq t;
    make_req(&t, 1, 10, 150, 0, 0, 51);          /* 201 > max_model_len */
    assert_int_equal(fs_engine_add(e, &t.r, 0), -EINVAL);
    assert_int_equal(t.r.state, FS_REQ_NEW);
    make_req(&t, 2, 10, 100, 0, 0, 14);         /* holds at most 113 tokens: 8 blocks */
    assert_int_equal(fs_engine_add(e, &t.r, 0), -EINVAL);
    make_req(&t, 3, 10, 0, 0, 0, 5);            /* empty prompt */
    t.r.nsegs = 0;
    assert_int_equal(fs_engine_add(e, &t.r, 0), -EINVAL);
    make_req(&t, 4, 10, 5, 0, 0, 0);            /* no output */
    assert_int_equal(fs_engine_add(e, &t.r, 0), -EINVAL);
    assert_true(fs_engine_idle(e));
    /* exactly fitting the whole cache is accepted and runs to the end */
    make_req(&t, 5, 10, 100, 0, 0, 13);         /* holds at most 112 tokens: 7 blocks */
    add(e, &t, 0);
    fs_ns now = 0;
    while (!t.finished)
        step(e, &now, 1, NULL);
    assert_int_equal(t.tokens, 13);
    assert_true(fs_engine_idle(e));
    fs_engine_free(e);
}

/* ---------------------------------------------------------------- hand-checked runs */

/* Prompt 100 with budget 32: chunks 32, 32, 32, 4; the 4th step's end is the TTFT. */
static void test_chunked_prefill_ttft(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.max_num_batched_tokens = 32;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq t;
    make_req(&t, 1, 77, 100, 0, 0, 3);
    add(e, &t, 5);
    assert_int_equal(t.r.arrival, 5);
    fs_ns now = 100;
    fm_seq_work w[4];
    uint32_t chunks[4] = { 32, 32, 32, 4 };
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fs_engine_schedule(e, now), 1);
        assert_int_equal(fs_engine_batch_tokens(e), chunks[i]);
        assert_work(fs_engine_batch(e, NULL), chunks[i], 32u * (uint32_t)i);
        assert_true(fs_engine_busy(e));
        check(e);
        now += 10;
        complete(e, &log, now);
        assert_false(fs_engine_busy(e));
        assert_int_equal(t.tokens, i == 3 ? 1 : 0);
    }
    assert_int_equal(t.r.first_scheduled, 100);
    assert_int_equal(t.r.first_token, 140);
    /* decodes: one token each, context = everything computed so far */
    step(e, &now, 1, w);
    assert_work(&w[0], 1, 100);
    assert_int_equal(t.tokens, 2);
    step(e, &now, 1, w);
    assert_work(&w[0], 1, 101);
    assert_true(t.finished);
    assert_int_equal(t.r.last_token, 160);
    assert_true(fs_engine_idle(e));
    assert_int_equal(fs_engine_schedule(e, now), 0);
    assert_false(fs_engine_busy(e));
    fs_engine_stats st;
    fs_engine_get_stats(e, &st);
    assert_int_equal(st.steps, 6);
    assert_int_equal(st.prompt_tokens_computed, 100);
    assert_int_equal(st.tokens_computed, 102);
    assert_int_equal(st.output_tokens, 3);
    assert_int_equal(st.finished, 1);
    assert_int_equal(st.blocks_free, 1000);
    assert_int_equal(st.prefix_queries, 100);
    assert_int_equal(st.prefix_hits, 0);
    /* 6 prompt blocks were cached (the 7th block never filled) and stay findable */
    assert_int_equal(st.blocks_cached, 6);
    assert_int_equal(log.stored, 6);
    fs_engine_free(e);
}

/* P/D: a decode replica that received 99 of 100 prompt tokens' KV computes one token
 * and emits the first output at the end of its first step; the received blocks are
 * cached; a second request with the same prompt hits them locally. */
static void test_external_tokens(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq t, u, bad;
    make_req(&t, 1, 77, 100, 0, 0, 2);
    t.r.external_tokens = 99;
    add(e, &t, 0);
    fs_ns now = 10;
    fm_seq_work w[2];
    step(e, &now, 1, w);
    assert_work(&w[0], 1, 99);
    assert_int_equal(t.tokens, 1);
    assert_int_equal(t.r.num_cached, 0);
    fs_engine_stats st;
    fs_engine_get_stats(e, &st);
    assert_int_equal(st.blocks_cached, 6);
    make_req(&u, 2, 77, 100, 0, 0, 1);
    add(e, &u, now);
    step(e, &now, 2, w);
    assert_int_equal(u.r.num_cached, 96);
    check(e);
    make_req(&bad, 3, 78, 10, 0, 0, 1);
    bad.r.external_tokens = 10;
    assert_int_equal(fs_engine_add(e, &bad.r, now), -EINVAL);
    fs_engine_free(e);
}

/* Without chunking a prompt that does not fit the rest of the budget waits whole. */
static void test_no_chunking(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.enable_chunked_prefill = false;
    c.max_num_batched_tokens = c.max_model_len;   /* 4096 */
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq a, b;
    make_req(&a, 1, 1, 3000, 0, 0, 2);
    make_req(&b, 2, 2, 2000, 0, 0, 2);
    add(e, &a, 0);
    add(e, &b, 0);
    fs_ns now = 0;
    fm_seq_work w[2];
    step(e, &now, 1, w);
    assert_work(&w[0], 3000, 0);
    assert_int_equal(b.r.state, FS_REQ_WAITING);
    step(e, &now, 2, w);
    assert_work(&w[0], 1, 3000);
    assert_work(&w[1], 2000, 0);
    fs_engine_free(e);
}

/* long_prefill_token_threshold caps every request's tokens per step. */
static void test_long_prefill_threshold(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.long_prefill_token_threshold = 40;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq a, b;
    make_req(&a, 1, 1, 100, 0, 0, 1);
    make_req(&b, 2, 2, 30, 0, 0, 1);
    add(e, &a, 0);
    add(e, &b, 0);
    fs_ns now = 0;
    fm_seq_work w[2];
    step(e, &now, 2, w);
    assert_work(&w[0], 40, 0);
    assert_work(&w[1], 30, 0);
    step(e, &now, 1, w);
    assert_work(&w[0], 40, 40);
    step(e, &now, 1, w);
    assert_work(&w[0], 20, 80);
    assert_true(a.finished && b.finished);
    fs_engine_free(e);
}

/* Two running requests decode side by side with their own contexts. */
static void test_decode_contexts(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq a, b;
    make_req(&a, 1, 1, 40, 0, 0, 3);
    make_req(&b, 2, 2, 10, 0, 0, 4);
    add(e, &a, 0);
    add(e, &b, 0);
    fs_ns now = 0;
    fm_seq_work w[2];
    step(e, &now, 2, w);
    assert_work(&w[0], 40, 0);
    assert_work(&w[1], 10, 0);
    step(e, &now, 2, w);
    assert_work(&w[0], 1, 40);
    assert_work(&w[1], 1, 10);
    step(e, &now, 2, w);
    assert_work(&w[0], 1, 41);
    assert_work(&w[1], 1, 11);
    assert_true(a.finished);
    step(e, &now, 1, w);
    assert_work(&w[0], 1, 12);
    assert_true(b.finished);
    assert_int_equal(log.tokens, 7);
    fs_engine_free(e);
}

/* max_num_seqs caps running requests; a finish frees a slot for the next. */
static void test_max_num_seqs(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.max_num_seqs = 2;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq t[5];
    for (int i = 0; i < 5; i++) {
        make_req(&t[i], (uint64_t)i, 100 + (uint64_t)i, 8, 0, 0, (uint32_t)(2 + i));
        add(e, &t[i], 0);
    }
    fs_ns now = 0;
    step(e, &now, 2, NULL);
    fs_engine_stats st;
    fs_engine_get_stats(e, &st);
    assert_int_equal(st.running, 2);
    assert_int_equal(st.waiting, 3);
    assert_int_equal(t[2].r.state, FS_REQ_WAITING);
    step(e, &now, 2, NULL);     /* t0 finishes (2 tokens) */
    assert_true(t[0].finished);
    fm_seq_work w[2];
    step(e, &now, 2, w);        /* t1 decodes, t2 admitted */
    assert_work(&w[0], 1, 9);
    assert_work(&w[1], 8, 0);
    while (log.finished < 5)
        assert_true(step(e, &now, -1, NULL) <= 2);
    fs_engine_free(e);
}

/* The budget is shared in order: running first, then admissions, the last partial. */
static void test_budget(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.max_num_batched_tokens = 50;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq t[3];
    for (int i = 0; i < 3; i++) {
        make_req(&t[i], (uint64_t)i, 200 + (uint64_t)i, i == 2 ? 60 : 30, 0, 0, 5);
        add(e, &t[i], 0);
    }
    fs_ns now = 0;
    fm_seq_work w[3];
    step(e, &now, 2, w);
    assert_work(&w[0], 30, 0);
    assert_work(&w[1], 20, 0);      /* partial: no token */
    assert_int_equal(t[0].tokens, 1);
    assert_int_equal(t[1].tokens, 0);
    step(e, &now, 3, w);
    assert_work(&w[0], 1, 30);      /* t0 decode */
    assert_work(&w[1], 10, 20);     /* t1 rest of prompt */
    assert_work(&w[2], 39, 0);      /* t2 gets what is left */
    assert_int_equal(fs_engine_batch_tokens(e), 0);   /* cleared by complete */
    assert_int_equal(t[1].tokens, 1);
    assert_int_equal(t[2].tokens, 0);
    fs_engine_free(e);
}

/* Shared 64-token prefix: 64 cached; an identical prompt hits (len-1)/B blocks only. */
static void test_prefix_hits(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq a, b, d1, d2;
    make_req(&a, 1, 500, 64, 501, 40, 2);
    make_req(&b, 2, 500, 64, 502, 50, 2);
    fs_ns now = 0;
    fm_seq_work w[2];
    add(e, &a, now);
    step(e, &now, 1, w);
    add(e, &b, now);
    step(e, &now, 2, w);
    assert_work(&w[0], 1, 104);
    assert_work(&w[1], 50, 64);
    assert_int_equal(b.r.num_cached, 64);
    assert_int_equal(a.r.num_cached, 0);
    /* full hit: 64 tokens = 4 blocks, at most (64-1)/16 = 3 blocks are reused */
    make_req(&d1, 3, 600, 64, 0, 0, 1);
    make_req(&d2, 4, 600, 64, 0, 0, 1);
    add(e, &d1, now);
    step(e, &now, -1, NULL);
    assert_true(d1.finished);
    add(e, &d2, now);
    step(e, &now, 1, w);
    assert_work(&w[0], 16, 48);
    assert_int_equal(d2.r.num_cached, 48);
    assert_true(d2.finished);
    fs_engine_stats st;
    fs_engine_get_stats(e, &st);
    assert_int_equal(st.prefix_queries, 104 + 114 + 64 + 64);
    assert_int_equal(st.prefix_hits, 64 + 48);
    fs_engine_free(e);
}

/* With caching off nothing is hashed, stored or hit. */
static void test_no_prefix_caching(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.enable_prefix_caching = false;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq a, b;
    make_req(&a, 1, 500, 64, 0, 0, 2);
    make_req(&b, 2, 500, 64, 0, 0, 2);
    fs_ns now = 0;
    add(e, &a, now);
    step(e, &now, 1, NULL);
    add(e, &b, now);
    fm_seq_work w[2];
    step(e, &now, 2, w);
    assert_work(&w[1], 64, 0);
    assert_int_equal(b.r.num_cached, 0);
    assert_int_equal(log.stored, 0);
    fs_engine_free(e);
}

/*
 * B = 4, 10 blocks, A and B each 16 + 20 tokens. Both prefill in step 1 (8 blocks),
 * take a 5th block in step 2 (0 free) and fill it by step 5. In step 6 A needs a 6th
 * block: B, the last running, is preempted (5 blocks freed tail first), A takes the
 * head of the queue (B's last block) and nothing is admitted. B returns to the front
 * of the waiting queue, ahead of C. A then eats B's blocks from the head, so when A
 * finishes only B's first block is still cached: B re-admits with 4 tokens computed.
 */
static void test_preemption(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.block_size = 4;
    c.num_blocks = 10;
    c.max_num_seqs = 2;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq a, b, cc;
    make_req(&a, 1, 1, 16, 0, 0, 20);
    make_req(&b, 2, 2, 16, 0, 0, 20);
    make_req(&cc, 3, 3, 4, 0, 0, 1);
    add(e, &a, 0);
    add(e, &b, 0);
    add(e, &cc, 0);
    fs_ns now = 0;
    fm_seq_work w[2];
    for (int i = 0; i < 5; i++)
        step(e, &now, 2, NULL);
    assert_int_equal(b.tokens, 5);
    assert_int_equal(log.preempted, 0);
    fs_engine_stats st;
    fs_engine_get_stats(e, &st);
    assert_int_equal(st.blocks_free, 0);
    step(e, &now, 1, w);
    assert_work(&w[0], 1, 20);
    assert_int_equal(log.preempted, 1);
    assert_int_equal(b.r.state, FS_REQ_PREEMPTED);
    assert_int_equal(b.r.preemptions, 1);
    assert_int_equal(b.tokens, 5);
    assert_int_equal(b.r.num_output, 5);
    /* front of the waiting queue, ahead of C */
    assert_null(b.r.prev);
    assert_ptr_equal(b.r.next, &cc.r);
    fs_engine_get_stats(e, &st);
    assert_int_equal(st.preemptions, 1);
    assert_int_equal(st.waiting, 2);
    assert_int_equal(st.running, 1);
    assert_int_equal(st.blocks_free, 4);
    while (!a.finished)
        step(e, &now, 1, NULL);
    /* B re-admits ahead of C: its first block hit, 21 - 4 = 17 tokens recomputed */
    step(e, &now, 2, w);
    assert_work(&w[0], 17, 4);
    assert_work(&w[1], 4, 0);
    assert_int_equal(b.tokens, 6);       /* the recompute chunk samples token 6 */
    assert_int_equal(b.r.num_cached, 0); /* recorded at the first admission only */
    while (!b.finished)
        step(e, &now, -1, NULL);
    assert_int_equal(b.tokens, 20);
    assert_true(cc.finished);
    fs_engine_get_stats(e, &st);
    assert_int_equal(st.output_tokens, 41);
    /* prompt part: A 16, B 16 + 16 again (recomputed from token 4), C 4 */
    assert_int_equal(st.prompt_tokens_computed, 16 + 16 + 12 + 4);
    /* B's preempted lookup is not counted as a prefix query */
    assert_int_equal(st.prefix_queries, 16 + 16 + 4);
    fs_engine_free(e);
}

/*
 * reserve_full_isl: B = 4, 8 blocks, budget 8. A (8 + 8) prefills in step 1; in step 2
 * it takes a 3rd block, leaving 5. B's prompt of 24 needs 6 blocks in all: with the
 * reserve it waits; without, its first chunk of 7 tokens (2 blocks) is admitted.
 */
static void reserve_case(bool reserve)
{
    fs_engine_config c = small_config();
    c.block_size = 4;
    c.num_blocks = 8;
    c.max_num_batched_tokens = 8;
    c.reserve_full_isl = reserve;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq a, b;
    make_req(&a, 1, 1, 8, 0, 0, 8);
    make_req(&b, 2, 2, 24, 0, 0, 1);
    add(e, &a, 0);
    add(e, &b, 0);
    fs_ns now = 0;
    fm_seq_work w[2];
    step(e, &now, 1, w);
    assert_work(&w[0], 8, 0);
    step(e, &now, reserve ? 1 : 2, w);
    assert_work(&w[0], 1, 8);
    if (reserve) {
        assert_int_equal(b.r.state, FS_REQ_WAITING);
    } else {
        assert_work(&w[1], 7, 0);
        assert_int_equal(b.r.state, FS_REQ_RUNNING);
    }
    while (!a.finished || !b.finished)
        step(e, &now, -1, NULL);
    fs_engine_free(e);
}

static void test_reserve_full_isl(void **state)
{
    (void)state;
    reserve_case(true);
    reserve_case(false);
}

/*
 * Hit blocks that sit in the free queue count as needed: B = 4, 8 blocks. D1 (16
 * tokens) finishes, its 4 blocks cached and free; A then holds the other 4. D2 shares
 * D1's 16 tokens plus 4: it hits 4 free blocks and needs a 5th, so 5 blocks > 4 free:
 * it waits until A finishes.
 */
static void test_hits_in_free_queue(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.block_size = 4;
    c.num_blocks = 8;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq d1, a, d2;
    make_req(&d1, 1, 7, 16, 0, 0, 1);
    make_req(&a, 2, 8, 12, 0, 0, 5);
    make_req(&d2, 3, 7, 16, 9, 4, 1);
    fs_ns now = 0;
    add(e, &d1, now);
    step(e, &now, 1, NULL);
    assert_true(d1.finished);
    add(e, &a, now);
    step(e, &now, 1, NULL);      /* A: 12 tokens, 3 blocks */
    step(e, &now, 1, NULL);      /* A: a 4th block; the 4 free ones are D1's */
    fs_engine_stats st;
    fs_engine_get_stats(e, &st);
    assert_int_equal(st.blocks_free, 4);
    assert_int_equal(st.blocks_cached, 4 + 3);   /* D1's and A's prompt blocks */
    add(e, &d2, now);
    while (!a.finished) {
        step(e, &now, 1, NULL);
        assert_int_equal(d2.r.state, FS_REQ_WAITING);
    }
    fm_seq_work w[1];
    step(e, &now, 1, w);
    assert_work(&w[0], 4, 16);
    assert_int_equal(d2.r.num_cached, 16);
    assert_true(d2.finished);
    fs_engine_free(e);
}

/* Priority mode: lower priority value first, regardless of arrival order. */
static void test_priority_order(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.priority_scheduling = true;
    c.max_num_seqs = 1;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq t[3];
    make_req(&t[0], 1, 1, 8, 0, 0, 1);
    make_req(&t[1], 2, 2, 8, 0, 0, 1);
    make_req(&t[2], 3, 3, 8, 0, 0, 1);
    t[0].r.priority = 5;
    t[1].r.priority = 0;
    t[2].r.priority = 5;
    add(e, &t[0], 0);
    add(e, &t[1], 1);
    add(e, &t[2], 2);
    fs_ns now = 10;
    step(e, &now, 1, NULL);
    assert_true(t[1].finished && !t[0].finished);
    step(e, &now, 1, NULL);
    assert_true(t[0].finished && !t[2].finished);
    step(e, &now, 1, NULL);
    assert_true(t[2].finished);
    fs_engine_free(e);
}

/* Priority mode: the victim is the running request with the largest (priority, arrival). */
static void test_priority_victim(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    c.priority_scheduling = true;
    c.block_size = 4;
    c.num_blocks = 8;
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq hi, lo;
    make_req(&lo, 1, 1, 12, 0, 0, 10);   /* admitted first, but priority 9 */
    make_req(&hi, 2, 2, 12, 0, 0, 10);
    lo.r.priority = 9;
    hi.r.priority = 1;
    add(e, &lo, 0);
    fs_ns now = 0;
    step(e, &now, 1, NULL);
    add(e, &hi, now);
    while (log.preempted == 0)
        step(e, &now, -1, NULL);
    /* FCFS would have picked hi, the last admitted */
    assert_int_equal(lo.r.preemptions, 1);
    assert_int_equal(hi.r.preemptions, 0);
    while (!lo.finished)
        step(e, &now, -1, NULL);
    assert_true(hi.finished);
    assert_true(hi.r.last_token < lo.r.last_token);
    fs_engine_free(e);
}

/* The output segment's content id depends on the request id only. */
static void test_output_content(void **state)
{
    (void)state;
    assert_int_equal(fs_engine_output_content(7), fs_engine_output_content(7));
    assert_int_not_equal(fs_engine_output_content(7), fs_engine_output_content(8));
}

/* ---------------------------------------------------------------- randomized */

typedef struct rnd_case {
    unsigned seed;
    int nreq;
    fs_engine_config cfg;
} rnd_case;

static uint32_t urand(unsigned *s, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)rand_r(s) % (hi - lo + 1);
}

/* A random request: maybe a shared prefix from a few groups, a unique rest. */
static void random_req(treq *t, uint64_t id, unsigned *s, const fs_engine_config *c)
{
    uint32_t maxlen = (uint32_t)c->max_model_len;
    uint32_t pre = rand_r(s) % 2 ? urand(s, 1, 120) : 0;
    uint32_t rest = urand(s, pre ? 0 : 1, 150);
    uint32_t out = urand(s, 1, 60);
    if (pre + rest + out > maxlen)
        out = 1, rest = maxlen / 2 > pre ? 1 : 0, pre = pre > maxlen / 2 ? maxlen / 2 : pre;
    make_req(t, id, 1000 + (uint64_t)(rand_r(s) % 3), pre, 5000 + id, rest, out);
    if (!pre) {
        t->segs[0] = t->segs[1];
        t->r.nsegs = 1;
    }
    t->r.priority = rand_r(s) % 3;
}

static fs_engine_config random_config(unsigned *s)
{
    fs_engine_config c;
    fs_engine_config_defaults(&c);
    c.block_size = (int)(rand_r(s) % 2 ? 16 : urand(s, 1, 8));
    c.max_model_len = 400;
    c.num_blocks = (int64_t)(400 / c.block_size + 1 + urand(s, 0, 3) * (400 / (unsigned)c.block_size));
    c.max_num_seqs = (int)urand(s, 1, 12);
    c.max_num_batched_tokens = (int)urand(s, 16, 600);
    c.long_prefill_token_threshold = rand_r(s) % 3 ? 0 : (int)urand(s, 1, 64);
    c.enable_prefix_caching = rand_r(s) % 4 != 0;
    c.enable_chunked_prefill = rand_r(s) % 4 != 0;
    if (!c.enable_chunked_prefill && c.max_num_batched_tokens < c.max_model_len)
        c.max_num_batched_tokens = c.max_model_len;
    c.reserve_full_isl = rand_r(s) % 3 != 0;
    c.priority_scheduling = rand_r(s) % 3 == 0;
    return c;
}

typedef struct rnd_totals {
    uint64_t out, tokens;
} rnd_totals;

/* Checks one scheduled batch against the limits; returns its token count. */
static uint32_t check_batch_limits(const fs_engine *e, const fs_engine_config *c)
{
    size_t n;
    const fm_seq_work *w = fs_engine_batch(e, &n);
    uint32_t sum = 0;
    assert_true(n <= (size_t)c->max_num_seqs);
    for (size_t i = 0; i < n; i++) {
        assert_true(w[i].new_tokens >= 1);
        assert_true(w[i].context + w[i].new_tokens < (uint32_t)c->max_model_len);
        if (c->long_prefill_token_threshold)
            assert_true(w[i].new_tokens <= (uint32_t)c->long_prefill_token_threshold);
        sum += w[i].new_tokens;
    }
    assert_true(sum <= (uint32_t)c->max_num_batched_tokens);
    assert_int_equal(sum, fs_engine_batch_tokens(e));
    return sum;
}

/* One randomized step: no admission may happen in a step that preempted. */
static size_t random_step(fs_engine *e, treq *t, int added, obs_log *log, fs_ns now,
                          uint64_t *tokens)
{
    static bool was_waiting[4096];
    for (int i = 0; i < added; i++)
        was_waiting[i] = t[i].r.state == FS_REQ_WAITING || t[i].r.state == FS_REQ_PREEMPTED;
    long pre = log->preempted;
    size_t n = fs_engine_schedule(e, now);
    check(e);
    /* (in priority mode a pass that only preempted is followed by a second pass) */
    if (log->preempted > pre && !fs_engine_get_config(e)->priority_scheduling)
        for (int i = 0; i < added; i++)
            assert_false(was_waiting[i] && t[i].r.state == FS_REQ_RUNNING);
    if (n == 0) {
        assert_true(fs_engine_idle(e));
        return 0;
    }
    *tokens += check_batch_limits(e, fs_engine_get_config(e));
    complete(e, log, now + 7);
    check(e);
    return n;
}

/* After a run: everyone finished with all tokens, and the counters add up. */
static void check_totals(const fs_engine *e, const treq *t, int n, const obs_log *log,
                         uint64_t batch_tokens)
{
    fs_engine_stats st;
    fs_engine_get_stats(e, &st);
    uint64_t out = 0, floor_tokens = 0, floor_prompt = 0;
    for (int i = 0; i < n; i++) {
        const fs_engine_req *r = &t[i].r;
        assert_true(t[i].finished);
        assert_int_equal(t[i].tokens, r->max_output);
        assert_true(r->arrival <= r->first_scheduled && r->first_scheduled < r->first_token);
        assert_true(r->first_token <= r->last_token);
        assert_true(r->num_cached < r->prompt_len);
        out += r->max_output;
        floor_prompt += r->prompt_len - r->num_cached;
        floor_tokens += r->prompt_len - r->num_cached + r->max_output - 1;
    }
    assert_int_equal(st.output_tokens, out);
    assert_int_equal(log->tokens, (long)out);
    assert_int_equal(log->first, (long)n);
    assert_int_equal(log->gap_tokens, out - (uint64_t)n);
    assert_int_equal(st.finished, (uint64_t)n);
    assert_int_equal(st.tokens_computed, batch_tokens);
    assert_int_equal(st.preemptions, (uint64_t)log->preempted);
    if (st.preemptions == 0) {
        assert_int_equal(st.tokens_computed, floor_tokens);
        assert_int_equal(st.prompt_tokens_computed, floor_prompt);
    } else {
        assert_true(st.tokens_computed >= floor_tokens);
    }
    assert_true(st.prefix_hits <= st.prefix_queries);
    assert_int_equal(st.blocks_free, st.blocks_total);
    assert_int_equal(st.blocks_cached, log->stored - log->removed);
    assert_int_equal(st.waiting + st.running, 0);
}

/*
 * Inter-token gaps come as runs, one report per completion when all gaps are equal:
 * A and B decode together (gaps of 10 ns); C joins late; an idle 5 ns makes the next
 * step's gaps 15 for all three. Mixed gaps within one completion (skipped or preempted
 * requests) are checked by the randomized runs.
 */
static void test_token_gaps(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq a, b, cc;
    make_req(&a, 1, 1, 8, 0, 0, 4);
    make_req(&b, 2, 2, 8, 0, 0, 4);
    make_req(&cc, 3, 3, 8, 0, 0, 3);
    add(e, &a, 0);
    add(e, &b, 0);
    fs_ns now = 0;
    step(e, &now, 2, NULL);                 /* prefill: first tokens at 10 */
    assert_int_equal(log.first, 2);
    assert_int_equal(log.gap_calls, 0);
    step(e, &now, 2, NULL);                 /* at 20: one run (10, 2) */
    assert_int_equal(log.gap_calls, 1);
    assert_int_equal(log.gap_tokens, 2);
    assert_int_equal(log.gap_sum, 20);
    add(e, &cc, now);
    step(e, &now, 3, NULL);                 /* at 30: (10, 2); C's first token */
    assert_int_equal(log.first, 3);
    now += 5;
    step(e, &now, 3, NULL);                 /* at 45: (15, 3); A and B end */
    assert_int_equal(log.gap_calls, 3);
    assert_int_equal(log.gap_tokens, 7);
    assert_int_equal(log.gap_sum, 20 + 20 + 45);
    assert_true(a.finished && b.finished);
    step(e, &now, 1, NULL);                 /* at 55: (10, 1); C ends */
    assert_int_equal(log.gap_calls, 4);
    assert_int_equal(log.gap_sum, 95);
    assert_true(cc.finished);
    fs_engine_free(e);
}

/* One run of n random requests arriving a few per step. Returns preemptions. */
static uint64_t random_run(unsigned seed, int n)
{
    unsigned s = seed;
    fs_engine_config c = random_config(&s);
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq *t = calloc((size_t)n, sizeof *t);
    assert_non_null(t);
    int added = 0;
    uint64_t tokens = 0;
    fs_ns now = 0;
    while (log.finished < n) {
        for (int k = (int)urand(&s, 0, 3); k > 0 && added < n; k--, added++) {
            random_req(&t[added], (uint64_t)added, &s, &c);
            add(e, &t[added], now);
        }
        random_step(e, t, added, &log, now, &tokens);
        now += 10;
    }
    check_totals(e, t, n, &log, tokens);
    fs_engine_stats st;
    fs_engine_get_stats(e, &st);
    fs_engine_free(e);
    free(t);
    return st.preemptions;
}

static void test_randomized(void **state)
{
    (void)state;
    uint64_t preemptions = 0;
    int runs_with = 0;
    for (unsigned seed = 1; seed <= 300; seed++) {
        uint64_t p = random_run(seed, 200);
        preemptions += p;
        runs_with += p > 0;
    }
    /* the small pools must have forced preemption in many runs, and not in all */
    assert_true(runs_with > 30 && runs_with < 300);
    assert_true(preemptions > 1000);
    assert_true(mixed_completions > 100);   /* the gap runs' checks were exercised */
}

/* Requests still inside when the engine is freed are abandoned without leaks. */
static void test_free_with_requests(void **state)
{
    (void)state;
    fs_engine_config c = small_config();
    obs_log log = { 0 };
    fs_engine *e = new_engine(&c, &log);
    treq t[3];
    for (int i = 0; i < 3; i++) {
        make_req(&t[i], (uint64_t)i, 9, 100, 0, 0, 50);
        add(e, &t[i], 0);
    }
    fs_ns now = 0;
    step(e, &now, 3, NULL);
    fs_engine_free(e);
    assert_null(t[0].r.hashes);
    assert_int_equal(log.finished, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_token_gaps),
        cmocka_unit_test(test_chunked_prefill_ttft),
        cmocka_unit_test(test_no_chunking),
        cmocka_unit_test(test_external_tokens),
        cmocka_unit_test(test_long_prefill_threshold),
        cmocka_unit_test(test_decode_contexts),
        cmocka_unit_test(test_max_num_seqs),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_prefix_hits),
        cmocka_unit_test(test_no_prefix_caching),
        cmocka_unit_test(test_preemption),
        cmocka_unit_test(test_reserve_full_isl),
        cmocka_unit_test(test_hits_in_free_queue),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_priority_victim),
        cmocka_unit_test(test_output_content),
        cmocka_unit_test(test_randomized),
        cmocka_unit_test(test_free_with_requests),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
