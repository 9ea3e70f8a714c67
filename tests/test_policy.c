/*
 * test_policy.c: cmocka tests of libfleetpolicy's plugins and pipeline through its
 * public API (policies/fleetpolicy.h): every scorer's formula, every filter, picker,
 * profile handler and decider, against values computed by hand in the comments; the
 * prefix hashes against XXH64 applied by hand; in-flight accounting and events;
 * the endpoint pool; determinism for a given seed.
 *
 * Each test builds a small policy from EndpointPickerConfig text and a few endpoints
 * with chosen metrics, picks, and reads the weighted scores of the profile run
 * (fp_result.runs). Requests are steered to chosen endpoints to build up state (prefix
 * index, in-flight load, sessions) with header-profile-handler: profile "rr" (a
 * round-robin picker) or a label-selector profile, selected by the EPP-Profile header.
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
#include <xxhash.h>

#include "fleetpolicy.h"

/* ------------------------------------------------------------------ helpers */

static fp_rng rng;
static uint64_t next_id = 1;

static int setup(void **state)
{
    (void)state;
    fp_rng_seed(&rng, 12345);
    return 0;
}

static fp_policy *load(const char *yaml)
{
    fp_policy *p = NULL;
    char *err = NULL;
    if (fp_policy_load_string("test.yaml", yaml, strlen(yaml), &p, &err))
        fail_msg("config rejected: %s", err);
    return p;
}

/* A config with scorer `s` (a YAML flow mapping of type and parameters), a profile
   "score" (s + max-score-picker), profiles "rr" (round-robin) and "a", "b" (label
   selectors pod=a, pod=b), chosen by header-profile-handler (default "score"). */
static fp_policy *with_scorer(const char *s)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "plugins:\n"
             "- %s\n"
             "- {type: max-score-picker}\n"
             "- {type: round-robin-picker}\n"
             "- {name: to-a, type: label-selector-filter, parameters: {matchLabels: {pod: a}}}\n"
             "- {name: to-b, type: label-selector-filter, parameters: {matchLabels: {pod: b}}}\n"
             "- {type: header-profile-handler, parameters: {defaultProfile: score}}\n"
             "schedulingProfiles:\n"
             "- {name: score, plugins: [{pluginRef: s}, {pluginRef: max-score-picker}]}\n"
             "- {name: rr, plugins: [{pluginRef: round-robin-picker}]}\n"
             "- {name: a, plugins: [{pluginRef: to-a}, {pluginRef: max-score-picker}]}\n"
             "- {name: b, plugins: [{pluginRef: to-b}, {pluginRef: max-score-picker}]}\n",
             s);
    return load(buf);
}

static uint32_t add_ep(fp_policy *p, const char *name, const char *role, int waiting,
                       int running, double kv)
{
    fp_label labels[2] = { { "pod", name }, { "llm-d.ai/role", role } };
    fp_endpoint_desc d = { .name = name, .labels = labels, .nlabels = role ? 2 : 1 };
    uint32_t id;
    char *err = NULL;
    if (fp_endpoint_add(p, &d, &id, &err))
        fail_msg("%s", err);
    fp_metrics m = { waiting, running, kv, 16, 1000, 0 };
    fp_endpoint_update(p, id, &m);
    return id;
}

static void set_blocks(fp_policy *p, uint32_t id, uint32_t block_size, uint32_t num_blocks)
{
    fp_endpoint_state st;
    fp_endpoint_get(p, id, &st);
    st.metrics.block_size = block_size;
    st.metrics.num_blocks = num_blocks;
    fp_endpoint_update(p, id, &st.metrics);
}

typedef struct req_buf {
    fp_request r;
    fp_segment segs[4];
    fp_header hdr[2];
} req_buf;

/* A request whose prompt is the given (content, length) pairs; profile may be NULL. */
static fp_request *mkreq(req_buf *b, const char *profile, uint64_t c1, uint32_t l1, uint64_t c2,
                         uint32_t l2)
{
    memset(b, 0, sizeof *b);
    b->segs[0] = (fp_segment){ c1, l1 };
    b->segs[1] = (fp_segment){ c2, l2 };
    b->r.id = next_id++;
    b->r.model = "m";
    b->r.segs = b->segs;
    b->r.nsegs = l2 ? 2 : 1;
    if (profile) {
        b->hdr[0] = (fp_header){ "EPP-Profile", profile };
        b->r.headers = b->hdr;
        b->r.nheaders = 1;
    }
    return &b->r;
}

static fp_result pick_ok(fp_policy *p, const fp_request *r, int64_t now)
{
    fp_result res;
    char *err = NULL;
    if (fp_pick(p, r, now, &rng, &res, &err))
        fail_msg("pick failed: %s", err);
    return res;
}

/* Picks a one-block request for `profile` and leaves it in flight; returns the target. */
static uint32_t load_via(fp_policy *p, const char *profile, uint32_t tokens)
{
    req_buf b;
    fp_request *r = mkreq(&b, profile, 0xFFFF0000u + next_id, tokens, 0, 0);
    return pick_ok(p, r, 0).decode;
}

static double score_of(const fp_result *res, int run, uint32_t id)
{
    const fp_profile_run *pr = &res->runs[run];
    for (size_t i = 0; i < pr->nscored; i++)
        if (pr->scored[i].id == id)
            return pr->scored[i].score;
    return NAN;
}

#define assert_near(a, b) assert_true(fabs((a) - (b)) < 1e-9)

/* ------------------------------------------------------------------ random source */

static uint64_t counter_next(void *ctx) { return (*(uint64_t *)ctx)++ * 0x9E3779B97F4A7C15ull; }

static void test_rng(void **state)
{
    (void)state;
    fp_rng a, b;
    fp_rng_seed(&a, 7);
    fp_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++)
        assert_true(fp_rng_u64(&a) == fp_rng_u64(&b));
    for (int i = 0; i < 10000; i++) {
        assert_true(fp_rng_below(&a, 7) < 7);
        double u = fp_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
    }
    uint64_t ctr = 1;
    fp_rng c = { .next = counter_next, .ctx = &ctr };
    fp_rng_u64(&c);
    fp_rng_u64(&c);
    assert_int_equal(ctr, 3);   /* the caller's generator is the one drawn from */
}

/* ------------------------------------------------------------------ scorers */

static void test_queue_scorer(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: queue-scorer}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0), b = add_ep(p, "b", NULL, 5, 0, 0),
             c = add_ep(p, "c", NULL, 10, 0, 0);
    req_buf q;
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    /* (maxQ - q) / (maxQ - minQ) = (10-0)/10, (10-5)/10, 0 */
    assert_near(score_of(&r, 0, a), 1.0);
    assert_near(score_of(&r, 0, b), 0.5);
    assert_near(score_of(&r, 0, c), 0.0);
    assert_int_equal(r.decode, a);
    for (uint32_t i = 0; i < 3; i++)
        fp_endpoint_update(p, i, &(fp_metrics){ .waiting = 3 });
    r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_near(score_of(&r, 0, b), 1.0);   /* all equal: 1 */
    fp_policy_free(p);
}

static void test_running_scorer(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: running-requests-size-scorer}");
    uint32_t a = add_ep(p, "a", NULL, 9, 2, 0), b = add_ep(p, "b", NULL, 0, 4, 0),
             c = add_ep(p, "c", NULL, 0, 6, 0);
    req_buf q;
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_near(score_of(&r, 0, a), 1.0);
    assert_near(score_of(&r, 0, b), 0.5);
    assert_near(score_of(&r, 0, c), 0.0);
    fp_policy_free(p);
}

static void test_kv_scorer_and_clamp(void **state)
{
    (void)state;
    fp_policy *p = load("plugins:\n- type: kv-cache-utilization-scorer\n"
                        "schedulingProfiles:\n- name: x\n  plugins:\n"
                        "  - {pluginRef: kv-cache-utilization-scorer, weight: 2}\n");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0.25), b = add_ep(p, "b", NULL, 0, 0, 1.5),
             c = add_ep(p, "c", NULL, 0, 0, -0.5);
    req_buf q;
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_near(score_of(&r, 0, a), 2 * 0.75);  /* 1 - 0.25, times weight 2 */
    assert_near(score_of(&r, 0, b), 0.0);       /* 1 - 1.5 = -0.5 clamped to 0 */
    assert_near(score_of(&r, 0, c), 2.0);       /* 1.5 clamped to 1, times 2 */
    fp_policy_free(p);
}

static void test_load_aware_scorer(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: load-aware-scorer}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0), b = add_ep(p, "b", NULL, 64, 0, 0),
             c = add_ep(p, "c", NULL, 128, 0, 0), d = add_ep(p, "d", NULL, 500, 0, 0);
    req_buf q;
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_near(score_of(&r, 0, a), 0.5);                 /* empty queue */
    assert_near(score_of(&r, 0, b), 0.5 * (1 - 64.0 / 128));
    assert_near(score_of(&r, 0, c), 0.0);
    assert_near(score_of(&r, 0, d), 0.0);                 /* min(q, T) */
    fp_policy_free(p);
    p = with_scorer("{name: s, type: load-aware-scorer, parameters: {threshold: 10}}");
    a = add_ep(p, "a", NULL, 5, 0, 0);
    r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_near(score_of(&r, 0, a), 0.25);
    fp_policy_free(p);
}

static void test_active_request_scorer(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: active-request-scorer}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0), b = add_ep(p, "b", NULL, 0, 0, 0),
             c = add_ep(p, "c", NULL, 0, 0, 0);
    uint64_t first = next_id;
    for (int i = 0; i < 4; i++)   /* round robin: a, b, c, a */
        load_via(p, "rr", 10);
    assert_int_equal(fp_request_end(p, first + 1, 0), 0);   /* b's request ends */
    req_buf q;
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    /* in flight a 2, b 0, c 1: a (2-2)/2 = 0, b idle = 1, c (2-1)/2 = 0.5 */
    assert_near(score_of(&r, 0, a), 0.0);
    assert_near(score_of(&r, 0, b), 1.0);
    assert_near(score_of(&r, 0, c), 0.5);
    fp_policy_free(p);

    p = with_scorer("{name: s, type: active-request-scorer, "
                    "parameters: {idleThreshold: 1, maxBusyScore: 0.5}}");
    a = add_ep(p, "a", NULL, 0, 0, 0);
    b = add_ep(p, "b", NULL, 0, 0, 0);
    c = add_ep(p, "c", NULL, 0, 0, 0);
    for (int i = 0; i < 8; i++)   /* a 3, b 3, c 2 */
        load_via(p, "rr", 10);
    uint64_t last = next_id - 1;
    r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_near(score_of(&r, 0, a), 0.0);                  /* (3-3)/3 * 0.5 */
    assert_near(score_of(&r, 0, c), (3.0 - 2) / 3 * 0.5);
    fp_request_end(p, next_id - 1, 0);
    fp_request_end(p, last, 0);                            /* b: 2 */
    fp_request_end(p, last - 2, 0);                        /* c: 1 */
    r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_near(score_of(&r, 0, c), 1.0);                  /* 1 <= idleThreshold */
    assert_near(score_of(&r, 0, b), (3.0 - 2) / 3 * 0.5);
    fp_policy_free(p);
}

static void test_token_load_scorer(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: token-load-scorer, "
                               "parameters: {queueThresholdTokens: 1000}}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0), b = add_ep(p, "b", NULL, 0, 0, 0),
             c = add_ep(p, "c", NULL, 0, 0, 0);
    uint64_t ra = next_id;
    load_via(p, "rr", 300);
    uint64_t rb = next_id;
    load_via(p, "rr", 100);
    req_buf q;
    fp_request *req = mkreq(&q, NULL, 7, 200, 0, 0);
    fp_result r = pick_ok(p, req, 0);
    /* No prefix producer here: the whole prompt is uncached. 1 - (inflight + 200) / 1000 */
    assert_near(score_of(&r, 0, a), 1 - (300 + 200) / 1000.0);
    assert_near(score_of(&r, 0, b), 1 - (100 + 200) / 1000.0);
    assert_near(score_of(&r, 0, c), 1 - 200 / 1000.0);
    fp_request_end(p, req->id, 0);
    fp_request_first_token(p, ra, 0);   /* prompt tokens leave at the first token */
    fp_request_end(p, rb, 0);
    r = pick_ok(p, mkreq(&q, NULL, 7, 200, 0, 0), 0);
    assert_near(score_of(&r, 0, a), 0.8);
    assert_near(score_of(&r, 0, b), 0.8);
    fp_endpoint_state st;
    fp_endpoint_get(p, a, &st);
    assert_int_equal(st.inflight_requests, 1);   /* still in flight until end of stream */
    assert_int_equal(st.inflight_tokens, 0);
    fp_policy_free(p);
}

static void test_weighted_sum_not_normalised(void **state)
{
    (void)state;
    fp_policy *p = load("plugins:\n- type: queue-scorer\n- type: kv-cache-utilization-scorer\n"
                        "schedulingProfiles:\n- name: x\n  plugins:\n"
                        "  - {pluginRef: queue-scorer, weight: 2}\n"
                        "  - {pluginRef: kv-cache-utilization-scorer, weight: 3}\n");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0.5), b = add_ep(p, "b", NULL, 10, 0, 0.0);
    req_buf q;
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_near(score_of(&r, 0, a), 2 * 1.0 + 3 * 0.5);  /* 3.5, not 3.5 / 5 */
    assert_near(score_of(&r, 0, b), 2 * 0.0 + 3 * 1.0);
    assert_int_equal(r.decode, a);
    fp_policy_free(p);
}

/* ------------------------------------------------------------------ prefix cache */

static void test_prefix_cache_scorer(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: prefix-cache-scorer}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0), b = add_ep(p, "b", NULL, 0, 0, 0);
    assert_false(fp_policy_uses_block_keys(p));
    req_buf q;
    /* 320 tokens of content 1: five 64-token blocks (block size 16 raised to 64) */
    fp_request *learn = mkreq(&q, "a", 1, 320, 0, 0);
    assert_int_equal(pick_ok(p, learn, 0).decode, a);
    /* shares tokens 0..191 (blocks 0-2); block 3 differs; 292 tokens = 5 blocks */
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 192, 2, 100), 0);
    assert_near(score_of(&r, 0, a), 3.0 / 5);
    assert_near(score_of(&r, 0, b), 0.0);
    fp_policy_free(p);

    p = with_scorer("{name: s, type: prefix-cache-scorer, "
                    "parameters: {prefixLengthWeight: 0.5, maxModelLen: 1000}}");
    a = add_ep(p, "a", NULL, 0, 0, 0);
    pick_ok(p, mkreq(&q, "a", 1, 320, 0, 0), 0);
    r = pick_ok(p, mkreq(&q, NULL, 1, 192, 2, 100), 0);
    /* 0.5 * min(1, 3*64/1000)^2 + 0.5 * 3/5 */
    assert_near(score_of(&r, 0, a), 0.5 * 0.192 * 0.192 + 0.5 * 0.6);
    fp_policy_free(p);
}

/* Block size: the first endpoint's cache_config_info when autoTune, raised to 64. */
static void test_prefix_block_size(void **state)
{
    (void)state;
    req_buf q;
    fp_policy *p = with_scorer("{name: s, type: prefix-cache-scorer}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0);
    set_blocks(p, a, 128, 1000);
    pick_ok(p, mkreq(&q, "a", 1, 320, 0, 0), 0);
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 200, 2, 120), 0);
    assert_near(score_of(&r, 0, a), 1.0 / 3);   /* 128-token blocks: 1 of 3 */
    fp_policy_free(p);

    p = load("plugins:\n"
             "- {type: approx-prefix-cache-producer, parameters: {autoTune: false, blockSizeTokens: 100}}\n"
             "- {name: s, type: prefix-cache-scorer}\n"
             "- {name: to-a, type: label-selector-filter, parameters: {matchLabels: {pod: a}}}\n"
             "- {type: header-profile-handler, parameters: {defaultProfile: score}}\n"
             "schedulingProfiles:\n- {name: score, plugins: [{pluginRef: s}]}\n"
             "- {name: a, plugins: [{pluginRef: to-a}]}\n");
    a = add_ep(p, "a", NULL, 0, 0, 0);
    set_blocks(p, a, 128, 1000);                 /* ignored without autoTune */
    pick_ok(p, mkreq(&q, "a", 1, 320, 0, 0), 0);
    r = pick_ok(p, mkreq(&q, NULL, 1, 200, 2, 120), 0);
    assert_near(score_of(&r, 0, a), 2.0 / 4);   /* 100-token blocks: 2 of 4 */
    fp_policy_free(p);
}

/* llm-d's greedy any-holder match, seen through the scorer; LRU sized by num_gpu_blocks. */
static void test_prefix_greedy_and_lru(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: prefix-cache-scorer}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0), b = add_ep(p, "b", NULL, 0, 0, 0);
    set_blocks(p, b, 16, 3);                     /* b's LRU keeps 3 hashes */
    req_buf q;
    pick_ok(p, mkreq(&q, "a", 1, 320, 0, 0), 0);
    pick_ok(p, mkreq(&q, "b", 1, 320, 0, 0), 0);
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 320, 0, 0), 0);
    assert_near(score_of(&r, 0, a), 1.0);
    assert_near(score_of(&r, 0, b), 3.0 / 5);   /* holds blocks 2-4 only, still counted */
    fp_policy_free(p);
}

static void test_prefix_cap(void **state)
{
    (void)state;
    fp_policy *p = load("plugins:\n"
                        "- {type: approx-prefix-cache-producer, parameters: {maxPrefixTokensToMatch: 128}}\n"
                        "- {name: s, type: prefix-cache-scorer}\n"
                        "- {name: to-a, type: label-selector-filter, parameters: {matchLabels: {pod: a}}}\n"
                        "- {type: header-profile-handler, parameters: {defaultProfile: score}}\n"
                        "schedulingProfiles:\n- {name: score, plugins: [{pluginRef: s}]}\n"
                        "- {name: a, plugins: [{pluginRef: to-a}]}\n");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0);
    req_buf q;
    pick_ok(p, mkreq(&q, "a", 1, 130, 0, 0), 0);
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 130, 9, 5000), 0);
    assert_near(score_of(&r, 0, a), 1.0);   /* only 128 / 64 = 2 blocks are looked at */
    fp_policy_free(p);
}

static void put64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* llm-d's chain, computed here with XXH64 by hand for a text prompt. */
static void test_prefix_hashes_formula(void **state)
{
    (void)state;
    char text[300];
    for (int i = 0; i < 300; i++)
        text[i] = (char)('a' + i % 26);
    fp_request r = { .model = "llama", .cache_salt = "salt", .text = text, .text_len = 300 };
    uint64_t h[4];
    assert_int_equal(fp_prefix_hashes(&r, 64, h, 4), 2);  /* 256 bytes + a partial 44 */
    uint64_t prev = XXH64("llamasalt", 9, 0);
    unsigned char buf[16];
    for (int k = 0; k < 2; k++) {
        size_t len = k == 0 ? 256 : 44;
        put64(buf, XXH64(text + 256 * k, len, 0));
        put64(buf + 8, prev);
        prev = XXH64(buf, 16, 0);
        assert_true(h[k] == prev);
    }
    /* Token ids: 64 uint32 per block, little-endian. */
    uint32_t tok[70];
    for (int i = 0; i < 70; i++)
        tok[i] = (uint32_t)i * 1000003u;
    fp_request t = { .model = "llama", .tokens = tok, .ntokens = 70 };
    assert_int_equal(fp_prefix_hashes(&t, 64, h, 4), 2);
    unsigned char tb[256];
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 4; k++)
            tb[4 * i + k] = (unsigned char)(tok[i] >> (8 * k));
    put64(buf, XXH64(tb, 256, 0));
    put64(buf + 8, XXH64("llama", 5, 0));
    assert_true(h[0] == XXH64(buf, 16, 0));
}

static void test_prefix_hashes_segments(void **state)
{
    (void)state;
    uint64_t h1[8], h2[8], h3[8];
    fp_segment s1[] = { { 5, 100 }, { 6, 100 } }, s2[] = { { 5, 100 }, { 7, 100 } },
               s3[] = { { 5, 64 }, { 5, 36 } };
    fp_request r1 = { .model = "m", .segs = s1, .nsegs = 2 }, r2 = r1, r3 = r1;
    r2.segs = s2;
    r3.segs = s3;
    assert_int_equal(fp_prefix_hashes(&r1, 64, h1, 8), 4);   /* 200 tokens: 3 + partial */
    assert_int_equal(fp_prefix_hashes(&r2, 64, h2, 8), 4);
    assert_true(h1[0] == h2[0]);                             /* tokens 0-63 agree */
    assert_true(h1[1] != h2[1]);                             /* 64-127 straddle 6 vs 7 */
    /* (5,0..63),(5,0..35) is not (5,0..99): a segment restarts its content at 0 */
    assert_int_equal(fp_prefix_hashes(&r3, 64, h3, 8), 2);
    assert_true(h3[0] == h1[0] && h3[1] != h1[1]);
    fp_request other = r1;
    other.model = "n";
    assert_int_equal(fp_prefix_hashes(&other, 64, h2, 8), 4);
    assert_true(h2[0] != h1[0]);                             /* the model is in the chain */
    /* Precise keys: full blocks only; the same seed and tokens give the same keys. */
    assert_int_equal(fp_block_keys(&r1, 16, "", h1, 8), 8);
    assert_int_equal(fp_block_keys(&r2, 16, "", h2, 8), 8);
    assert_true(memcmp(h1, h2, 6 * sizeof h1[0]) == 0 && h1[6] != h2[6]);
    assert_int_equal(fp_block_keys(&r1, 64, "", h1, 8), 3);
}

static void test_precise_producer(void **state)
{
    (void)state;
    fp_policy *p = load("plugins:\n"
                        "- type: precise-prefix-cache-producer\n"
                        "- {name: s, type: prefix-cache-scorer, parameters: "
                        "{prefixMatchInfoProducerName: precise-prefix-cache-producer}}\n"
                        "schedulingProfiles:\n- {name: x, plugins: [{pluginRef: s}]}\n");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0), b = add_ep(p, "b", NULL, 0, 0, 0);
    assert_true(fp_policy_uses_block_keys(p));
    req_buf q;
    fp_request *r = mkreq(&q, NULL, 1, 64, 0, 0);
    uint64_t k[4];
    assert_int_equal(fp_block_keys(r, 16, "", k, 4), 4);
    assert_int_equal(fp_kv_stored(p, a, k, 4, FP_TIER_GPU), 0);
    assert_int_equal(fp_kv_stored(p, b, k, 2, FP_TIER_CPU), 0);
    fp_result res = pick_ok(p, r, 0);
    assert_near(score_of(&res, 0, a), 1.0);
    assert_near(score_of(&res, 0, b), (0.8 + 0.8) / 4);
    fp_request_end(p, r->id, 0);
    fp_kv_removed(p, a, k + 1, 1, FP_TIER_GPU);   /* a loses block 1: prefix of 1 */
    res = pick_ok(p, mkreq(&q, NULL, 1, 64, 0, 0), 0);
    assert_near(score_of(&res, 0, a), 0.25);
    fp_kv_cleared(p, b);
    /* The caller's own engine keys, at the engine's block size. */
    uint64_t mine[3] = { 10, 11, 12 };
    fp_kv_stored(p, b, mine, 2, FP_TIER_GPU);
    fp_request *r2 = mkreq(&q, NULL, 1, 48, 0, 0);
    r2->block_keys = mine;
    r2->nblock_keys = 3;
    r2->block_keys_size = 16;
    res = pick_ok(p, r2, 0);
    assert_near(score_of(&res, 0, b), 2.0 / 3);
    assert_int_equal(res.decode, b);
    fp_policy_free(p);
}

/* ------------------------------------------------------------------ no-hit LRU, sessions */

static void test_no_hit_lru_scorer(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: no-hit-lru-scorer}");
    uint32_t e0 = add_ep(p, "e0", NULL, 0, 0, 0), e1 = add_ep(p, "e1", NULL, 0, 0, 0),
             e2 = add_ep(p, "e2", NULL, 0, 0, 0);
    req_buf q;
    /* Cold requests: never-used endpoints 1 - i/(N-1) in pool order, then by LRU. */
    fp_result r = pick_ok(p, mkreq(&q, NULL, 100, 100, 0, 0), 0);
    assert_near(score_of(&r, 0, e0), 1.0);
    assert_near(score_of(&r, 0, e1), 0.5);
    assert_near(score_of(&r, 0, e2), 0.0);
    assert_int_equal(r.decode, e0);
    r = pick_ok(p, mkreq(&q, NULL, 101, 100, 0, 0), 0);
    assert_near(score_of(&r, 0, e1), 1.0);
    assert_near(score_of(&r, 0, e2), 0.5);
    assert_near(score_of(&r, 0, e0), 0.0);      /* rank = 2 never-used + position 0 */
    r = pick_ok(p, mkreq(&q, NULL, 102, 100, 0, 0), 0);
    assert_near(score_of(&r, 0, e2), 1.0);
    assert_near(score_of(&r, 0, e0), 0.5);
    assert_near(score_of(&r, 0, e1), 0.0);
    r = pick_ok(p, mkreq(&q, NULL, 103, 100, 0, 0), 0);
    assert_near(score_of(&r, 0, e0), 1.0);      /* least recently used */
    assert_int_equal(r.decode, e0);
    r = pick_ok(p, mkreq(&q, NULL, 103, 100, 0, 0), 0);   /* a hit on e0: neutral */
    assert_near(score_of(&r, 0, e0), 0.5);
    assert_near(score_of(&r, 0, e2), 0.5);
    r = pick_ok(p, mkreq(&q, NULL, 104, 100, 0, 0), 0);   /* the hit did not touch the LRU */
    assert_near(score_of(&r, 0, e1), 1.0);
    assert_near(score_of(&r, 0, e2), 0.5);
    assert_near(score_of(&r, 0, e0), 0.0);
    fp_policy_free(p);
}

static void test_session_affinity_token(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: session-affinity-scorer}");
    uint32_t a = add_ep(p, "ns/a", NULL, 0, 0, 0), b = add_ep(p, "ns/b", NULL, 0, 0, 0);
    char tok[32];
    assert_int_equal(fp_session_token(p, b, tok, sizeof tok), 8);
    assert_string_equal(tok, "bnMvYg==");       /* base64("ns/b") */
    req_buf q;
    fp_request *r = mkreq(&q, NULL, 1, 10, 0, 0);
    q.hdr[0] = (fp_header){ "X-Session-Token", tok };
    r->headers = q.hdr;
    r->nheaders = 1;
    fp_result res = pick_ok(p, r, 0);
    assert_near(score_of(&res, 0, b), 1.0);
    assert_near(score_of(&res, 0, a), 0.0);
    assert_int_equal(res.decode, b);
    r = mkreq(&q, NULL, 1, 10, 0, 0);
    q.hdr[0] = (fp_header){ "x-session-token", "!!not base64" };
    r->headers = q.hdr;
    r->nheaders = 1;
    res = pick_ok(p, r, 0);
    assert_near(score_of(&res, 0, b), 0.0);
    fp_policy_free(p);
}

static void test_session_affinity_id(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: session-affinity-scorer, "
                               "parameters: {algorithm: session_id_header}}");
    add_ep(p, "a", NULL, 0, 0, 0);
    add_ep(p, "b", NULL, 0, 0, 0);
    add_ep(p, "c", NULL, 0, 0, 0);
    req_buf q;
    fp_request *r = mkreq(&q, NULL, 1, 10, 0, 0);
    r->session = 42;
    fp_result res = pick_ok(p, r, 0);
    uint32_t bound = res.decode;
    assert_near(res.runs[0].scored[0].score + res.runs[0].scored[1].score +
                    res.runs[0].scored[2].score, 0.0);   /* unbound: 0 everywhere */
    r = mkreq(&q, NULL, 1, 10, 0, 0);
    r->session = 42;
    res = pick_ok(p, r, 1000000000);                    /* 1 s later */
    assert_near(score_of(&res, 0, bound), 1.0);
    assert_int_equal(res.decode, bound);
    r = mkreq(&q, NULL, 1, 10, 0, 0);
    r->session = 42;
    res = pick_ok(p, r, 302000000000);                   /* 301 s after the last use */
    assert_near(score_of(&res, 0, bound), 0.0);         /* the 300 s TTL expired */
    /* A session named by the x-session-id header, independent of numeric ids. */
    r = mkreq(&q, NULL, 1, 10, 0, 0);
    q.hdr[0] = (fp_header){ "x-session-id", "conversation-7" };
    r->headers = q.hdr;
    r->nheaders = 1;
    bound = pick_ok(p, r, 400000000000).decode;
    r = mkreq(&q, NULL, 1, 10, 0, 0);
    q.hdr[0] = (fp_header){ "X-Session-ID", "conversation-7" };
    r->headers = q.hdr;
    r->nheaders = 1;
    res = pick_ok(p, r, 401000000000);
    assert_near(score_of(&res, 0, bound), 1.0);
    r = mkreq(&q, NULL, 1, 10, 0, 0);
    q.hdr[0] = (fp_header){ "x-session-id", "conversation-8" };
    r->headers = q.hdr;
    r->nheaders = 1;
    res = pick_ok(p, r, 401000000000);
    assert_near(score_of(&res, 0, bound), 0.0);
    fp_policy_free(p);
}

static void test_header_label_affinity(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: header-label-affinity-scorer, "
                               "parameters: {headerName: x-zone, labelKey: pod}}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0), b = add_ep(p, "b", NULL, 0, 0, 0);
    req_buf q;
    fp_request *r = mkreq(&q, NULL, 1, 10, 0, 0);
    q.hdr[0] = (fp_header){ "x-zone", "b" };
    r->headers = q.hdr;
    r->nheaders = 1;
    fp_result res = pick_ok(p, r, 0);
    assert_near(score_of(&res, 0, b), 1.0);
    assert_near(score_of(&res, 0, a), 0.0);
    fp_policy_free(p);
}

/* ------------------------------------------------------------------ filters */

static size_t survivors(fp_policy *p, const char *filter_type)
{
    char buf[512];
    snprintf(buf, sizeof buf, "plugins:\n- type: %s\nschedulingProfiles:\n"
             "- {name: x, plugins: [{pluginRef: %s}]}\n", filter_type, filter_type);
    (void)p;
    fp_policy *q = load(buf);
    const char *roles[] = { "decode", "prefill", "both", "prefill-decode", "encode",
                            "encode-prefill-decode", NULL, "weird", "encode-prefill" };
    for (int i = 0; i < 9; i++) {
        char name[16];
        snprintf(name, sizeof name, "e%d", i);
        add_ep(q, name, roles[i], 0, 0, 0);
    }
    req_buf rb;
    fp_result res = pick_ok(q, mkreq(&rb, NULL, 1, 10, 0, 0), 0);
    size_t mask = 0;
    for (size_t i = 0; i < res.runs[0].nscored; i++)
        mask |= (size_t)1 << res.runs[0].scored[i].id;
    fp_policy_free(q);
    return mask;
}

static void test_role_filters(void **state)
{
    (void)state;
    /* e0 decode, e1 prefill, e2 both, e3 prefill-decode, e4 encode, e5 all three,
       e6 no label, e7 an unknown role, e8 encode-prefill */
    assert_int_equal(survivors(NULL, "decode-filter"), 0x01 | 0x04 | 0x08 | 0x20 | 0x40);
    assert_int_equal(survivors(NULL, "prefill-filter"), 0x02 | 0x04 | 0x08 | 0x20 | 0x100);
    assert_int_equal(survivors(NULL, "encode-filter"), 0x10 | 0x20 | 0x100);
}

static void test_label_selector(void **state)
{
    (void)state;
    fp_policy *p = load("plugins:\n- type: label-selector-filter\n  parameters:\n"
                        "    matchLabels: {tier: gold}\n"
                        "    matchExpressions:\n"
                        "    - {key: zone, operator: In, values: [z1, z2]}\n"
                        "    - {key: drain, operator: DoesNotExist}\n"
                        "    - {key: hw, operator: NotIn, values: [a100]}\n"
                        "    - {key: pod, operator: Exists}\n");
    struct { const char *name, *tier, *zone, *drain, *hw; bool keep; } e[] = {
        { "ok", "gold", "z1", NULL, "h100", true },
        { "nohw", "gold", "z2", NULL, NULL, true },      /* NotIn matches an absent label */
        { "silver", "silver", "z1", NULL, NULL, false },
        { "zone3", "gold", "z3", NULL, NULL, false },
        { "drained", "gold", "z1", "yes", NULL, false },
        { "a100", "gold", "z1", NULL, "a100", false },
    };
    for (int i = 0; i < 6; i++) {
        fp_label l[5] = { { "pod", e[i].name } };
        size_t n = 1;
        if (e[i].tier)
            l[n++] = (fp_label){ "tier", e[i].tier };
        if (e[i].zone)
            l[n++] = (fp_label){ "zone", e[i].zone };
        if (e[i].drain)
            l[n++] = (fp_label){ "drain", e[i].drain };
        if (e[i].hw)
            l[n++] = (fp_label){ "hw", e[i].hw };
        fp_endpoint_desc d = { .name = e[i].name, .labels = l, .nlabels = n };
        uint32_t id;
        assert_int_equal(fp_endpoint_add(p, &d, &id, NULL), 0);
    }
    req_buf q;
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(!isnan(score_of(&r, 0, (uint32_t)i)), e[i].keep);
    fp_policy_free(p);
}

static fp_policy *affinity_policy(const char *params)
{
    char buf[1024];
    snprintf(buf, sizeof buf,
             "plugins:\n"
             "- {name: f, type: prefix-cache-affinity-filter, parameters: {%s}}\n"
             "- {name: to-a, type: label-selector-filter, parameters: {matchLabels: {pod: a}}}\n"
             "- {type: header-profile-handler, parameters: {defaultProfile: score}}\n"
             "schedulingProfiles:\n- {name: score, plugins: [{pluginRef: f}]}\n"
             "- {name: a, plugins: [{pluginRef: to-a}]}\n", params);
    fp_policy *p = load(buf);
    add_ep(p, "a", NULL, 0, 0, 0);
    add_ep(p, "b", NULL, 0, 0, 0);
    add_ep(p, "c", NULL, 0, 0, 0);
    req_buf q;
    fp_request *r = mkreq(&q, "a", 1, 320, 0, 0);   /* a learns the prompt */
    pick_ok(p, r, 0);
    fp_request_end(p, r->id, 0);
    return p;
}

static size_t affinity_kept(fp_policy *p)
{
    req_buf q;
    fp_request *r = mkreq(&q, NULL, 1, 320, 0, 0);
    fp_result res = pick_ok(p, r, 0);
    fp_request_end(p, r->id, 0);
    return res.runs[0].nscored;
}

static void test_prefix_affinity_filter(void **state)
{
    (void)state;
    fp_policy *p = affinity_policy("maxTTFTPenaltyMs: 100, peakPrefillThroughput: 1000");
    assert_int_equal(affinity_kept(p), 1);      /* hit(a) = 1 >= 0.8: only a is sticky */
    req_buf q;
    fp_request *r = mkreq(&q, NULL, 77, 10, 0, 0);      /* a prompt nobody holds */
    assert_int_equal(pick_ok(p, r, 0).runs[0].nscored, 3);
    fp_request_end(p, r->id, 0);
    /* 500 uncached tokens in flight on a: TTFT 500 / 1000 s = 500 ms > 0 + 100 ms */
    pick_ok(p, mkreq(&q, "a", 99, 500, 0, 0), 0);
    assert_int_equal(affinity_kept(p), 3);      /* the saturation valve opens */
    fp_policy_free(p);

    p = affinity_policy("maxTTFTPenaltyMs: 0, peakPrefillThroughput: 1000");
    pick_ok(p, mkreq(&q, "a", 99, 500, 0, 0), 0);
    assert_int_equal(affinity_kept(p), 1);      /* 0 = always stick */
    fp_policy_free(p);

    p = affinity_policy("explorationProbability: 1.0");
    assert_int_equal(affinity_kept(p), 3);
    fp_policy_free(p);

    p = affinity_policy("affinityThreshold: 0.8");
    r = mkreq(&q, NULL, 1, 192, 5, 128);        /* 3 of 5 blocks: hit 0.6 < 0.8 */
    assert_int_equal(pick_ok(p, r, 0).runs[0].nscored, 3);
    fp_policy_free(p);
}

/* ------------------------------------------------------------------ pickers */

static void test_max_score_ties(void **state)
{
    (void)state;
    int counts[3] = { 0 };
    fp_policy *p = load("plugins: [{type: queue-scorer}]\n");
    for (int i = 0; i < 3; i++)
        add_ep(p, i == 0 ? "a" : i == 1 ? "b" : "c", NULL, 1, 0, 0);
    for (int i = 0; i < 3000; i++) {
        req_buf q;
        fp_request *r = mkreq(&q, NULL, 1, 10, 0, 0);
        counts[pick_ok(p, r, 0).decode]++;
        fp_request_end(p, r->id, 0);
    }
    for (int i = 0; i < 3; i++)
        assert_true(counts[i] > 850 && counts[i] < 1150);
    fp_policy_free(p);
    /* Deterministic for a seed: two policies, same seed, same choices. */
    fp_policy *x = load("plugins: [{type: queue-scorer}]\n"), *y = load("plugins: [{type: queue-scorer}]\n");
    for (int i = 0; i < 4; i++) {
        char n[4] = { (char)('a' + i), 0 };
        add_ep(x, n, NULL, 0, 0, 0);
        add_ep(y, n, NULL, 0, 0, 0);
    }
    fp_rng rx, ry;
    fp_rng_seed(&rx, 5);
    fp_rng_seed(&ry, 5);
    for (int i = 0; i < 200; i++) {
        req_buf q;
        fp_request *r = mkreq(&q, NULL, 1, 10, 0, 0);
        fp_result a, b;
        assert_int_equal(fp_pick(x, r, 0, &rx, &a, NULL), 0);
        assert_int_equal(fp_pick(y, r, 0, &ry, &b, NULL), 0);
        assert_int_equal(a.decode, b.decode);
    }
    fp_policy_free(x);
    fp_policy_free(y);
}

static void test_max_score_several(void **state)
{
    (void)state;
    fp_policy *p = load("plugins:\n- type: queue-scorer\n"
                        "- {type: max-score-picker, parameters: {maxNumOfEndpoints: 2}}\n");
    add_ep(p, "a", NULL, 10, 0, 0);
    uint32_t b = add_ep(p, "b", NULL, 0, 0, 0), c = add_ep(p, "c", NULL, 5, 0, 0);
    req_buf q;
    fp_result r = pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0);
    assert_int_equal(r.runs[0].ntargets, 2);
    assert_int_equal(r.runs[0].targets[0], b);
    assert_int_equal(r.runs[0].targets[1], c);
    assert_int_equal(r.decode, b);
    fp_policy_free(p);
}

static void count_picks(fp_policy *p, int n, int *counts)
{
    for (int i = 0; i < n; i++) {
        req_buf q;
        fp_request *r = mkreq(&q, NULL, 1, 10, 0, 0);
        counts[pick_ok(p, r, 0).decode]++;
        fp_request_end(p, r->id, 0);
    }
}

static void test_random_pickers(void **state)
{
    (void)state;
    int counts[3] = { 0 };
    fp_policy *p = load("plugins: [{type: random-picker}]\n");
    add_ep(p, "a", NULL, 0, 0, 0);
    add_ep(p, "b", NULL, 0, 0, 0);
    add_ep(p, "c", NULL, 0, 0, 0);
    count_picks(p, 3000, counts);
    for (int i = 0; i < 3; i++)
        assert_true(counts[i] > 850 && counts[i] < 1150);
    fp_policy_free(p);
    /* A-Res with scores 1, 0.5, 0: P = 2/3, 1/3, 0 */
    p = load("plugins: [{type: kv-cache-utilization-scorer}, {type: weighted-random-picker}]\n");
    add_ep(p, "a", NULL, 0, 0, 0.0);
    add_ep(p, "b", NULL, 0, 0, 0.5);
    add_ep(p, "c", NULL, 0, 0, 1.0);
    memset(counts, 0, sizeof counts);
    count_picks(p, 6000, counts);
    assert_true(counts[0] > 3700 && counts[0] < 4300);
    assert_int_equal(counts[2], 0);
    fp_policy_free(p);
    /* every score 0: uniform */
    p = load("plugins: [{type: kv-cache-utilization-scorer}, {type: weighted-random-picker}]\n");
    for (int i = 0; i < 3; i++)
        add_ep(p, i == 0 ? "a" : i == 1 ? "b" : "c", NULL, 0, 0, 1.0);
    memset(counts, 0, sizeof counts);
    count_picks(p, 3000, counts);
    for (int i = 0; i < 3; i++)
        assert_true(counts[i] > 850 && counts[i] < 1150);
    fp_policy_free(p);
}

static void test_baselines(void **state)
{
    (void)state;
    fp_policy *p = NULL;
    assert_int_equal(fp_policy_builtin("round-robin", &p, NULL), 0);
    add_ep(p, "a", NULL, 0, 0, 0);
    add_ep(p, "b", NULL, 0, 0, 0);
    add_ep(p, "c", NULL, 0, 0, 0);
    req_buf q;
    for (uint32_t i = 0; i < 7; i++)
        assert_int_equal(pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0).decode, i % 3);
    fp_policy_free(p);

    /* Least outstanding requests: the endpoint with fewest in flight, ties at random. */
    assert_int_equal(fp_policy_builtin("least-outstanding-requests", &p, NULL), 0);
    uint32_t x = add_ep(p, "x", NULL, 0, 0, 0), y = add_ep(p, "y", NULL, 0, 0, 0);
    fp_request *r1 = mkreq(&q, NULL, 1, 10, 0, 0);
    uint64_t id1 = r1->id;
    uint32_t first = pick_ok(p, r1, 0).decode, other = first == x ? y : x;
    assert_int_equal(pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0).decode, other);
    assert_int_equal(fp_request_end(p, id1, 0), 0);        /* first: 0, other: 1 */
    assert_int_equal(pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0).decode, first);
    fp_policy_free(p);

    assert_int_equal(fp_policy_builtin("random", &p, NULL), 0);
    add_ep(p, "a", NULL, 0, 0, 0);
    assert_int_equal(pick_ok(p, mkreq(&q, NULL, 1, 10, 0, 0), 0).decode, 0);
    fp_policy_free(p);
}

/* ------------------------------------------------------------------ P/D */

static void test_pd_reference(void **state)
{
    (void)state;
    fp_policy *p = NULL;
    assert_int_equal(fp_policy_builtin("pd", &p, NULL), 0);
    uint32_t pf = add_ep(p, "p1", "prefill", 0, 0, 0), d = add_ep(p, "d1", "decode", 0, 0, 0);
    req_buf q;
    fp_request *r = mkreq(&q, NULL, 1, 1000, 0, 0);
    fp_result res = pick_ok(p, r, 0);
    /* uncached 1000 >= nonCachedTokens 16: decode first, then prefill */
    assert_int_equal(res.decode, d);
    assert_int_equal(res.prefill, pf);
    assert_string_equal(res.prefill_address, "p1");
    assert_string_equal(res.primary_profile, "decode");
    assert_int_equal(res.nruns, 2);
    assert_string_equal(res.runs[0].profile, "decode");
    assert_string_equal(res.runs[1].profile, "prefill");
    fp_endpoint_state st;
    fp_endpoint_get(p, pf, &st);
    assert_int_equal(st.inflight_requests, 1);   /* both stages carry the request */
    assert_int_equal(st.inflight_tokens, 1000);
    fp_request_end(p, r->id, 0);
    fp_endpoint_get(p, d, &st);
    assert_int_equal(st.inflight_requests, 0);
    /* The decode pod learned the prompt: 16 blocks x 64 >= 1000, nothing uncached. */
    res = pick_ok(p, mkreq(&q, NULL, 1, 1000, 0, 0), 0);
    assert_int_equal(res.prefill, -1);
    assert_int_equal(res.nruns, 1);
    /* Shorter than nonCachedTokens: never disaggregated. */
    res = pick_ok(p, mkreq(&q, NULL, 50, 10, 0, 0), 0);
    assert_int_equal(res.prefill, -1);
    /* 15 blocks (960 tokens) cached on d1 + 16 new: uncached 16 >= 16, disaggregated. */
    res = pick_ok(p, mkreq(&q, NULL, 1, 960, 3, 16), 0);
    assert_int_equal(res.prefill, pf);
    /* The prefill pod learned the first prompt too: prefix 15 of 16 blocks, weight 2,
       plus queue-scorer 1 (a single candidate scores 1). */
    assert_near(score_of(&res, 1, pf), 2 * 15.0 / 16 + 1);
    /* 15 new tokens: below the threshold. */
    res = pick_ok(p, mkreq(&q, NULL, 1, 960, 4, 15), 0);
    assert_int_equal(res.prefill, -1);
    fp_policy_free(p);
}

static const char *pd_config(const char *decider, const char *order)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "plugins:\n- type: prefill-filter\n- type: decode-filter\n- type: %s\n"
             "- type: disagg-profile-handler\n"
             "  parameters: {deciders: {prefill: %s}, stageOrder: %s}\n"
             "schedulingProfiles:\n- {name: prefill, plugins: [{pluginRef: prefill-filter}]}\n"
             "- {name: decode, plugins: [{pluginRef: decode-filter}]}\n", decider, decider, order);
    return buf;
}

static void test_pd_variants(void **state)
{
    (void)state;
    req_buf q;
    fp_policy *p = load(pd_config("always-disagg-pd-decider", "prefill-first"));
    uint32_t pf = add_ep(p, "p", "prefill", 0, 0, 0), d = add_ep(p, "d", "decode", 0, 0, 0);
    fp_result res = pick_ok(p, mkreq(&q, NULL, 1, 5, 0, 0), 0);
    assert_int_equal(res.decode, d);
    assert_int_equal(res.prefill, pf);
    assert_string_equal(res.runs[0].profile, "prefill");   /* prefill ran first */
    fp_policy_free(p);

    p = load(pd_config("always-disagg-pd-decider", "decode-first"));
    d = add_ep(p, "d", "decode", 0, 0, 0);               /* no prefill pods */
    res = pick_ok(p, mkreq(&q, NULL, 1, 5, 0, 0), 0);
    assert_int_equal(res.decode, d);
    assert_int_equal(res.prefill, -1);                    /* aggregated fallback */
    assert_int_equal(res.runs[1].status, -ENOENT);
    fp_policy_free(p);

    p = load(pd_config("always-disagg-pd-decider", "decode-first"));
    add_ep(p, "p", "prefill", 0, 0, 0);                   /* no decode pods */
    fp_result out;
    char *err = NULL;
    assert_int_equal(fp_pick(p, mkreq(&q, NULL, 1, 5, 0, 0), 0, &rng, &out, &err), -ENOENT);
    assert_non_null(strstr(err, "decode"));
    free(err);
    fp_policy_free(p);

    p = load(pd_config("always-disagg-multimodal-decider", "decode-first"));
    add_ep(p, "p", "prefill", 0, 0, 0);
    add_ep(p, "d", "decode", 0, 0, 0);
    assert_int_equal(pick_ok(p, mkreq(&q, NULL, 1, 5, 0, 0), 0).prefill, -1);
    fp_policy_free(p);
}

/* ------------------------------------------------------------------ state and events */

static void test_inflight_events(void **state)
{
    (void)state;
    fp_policy *p = load("plugins:\n- type: queue-scorer\n"
                        "- {type: inflight-load-producer, parameters: {addEstimatedOutputTokens: true}}\n");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0);
    req_buf q;
    fp_request *r = mkreq(&q, NULL, 1, 300, 0, 0);
    uint64_t id = r->id;
    pick_ok(p, r, 0);
    fp_endpoint_state st;
    fp_endpoint_get(p, a, &st);
    assert_int_equal(st.inflight_requests, 1);
    assert_int_equal(st.inflight_tokens, 300 + 450);   /* + round(300 * 1.5) output */
    fp_result out;
    assert_int_equal(fp_pick(p, r, 0, &rng, &out, NULL), -EEXIST);
    assert_int_equal(fp_request_first_token(p, id, 1), 0);
    fp_endpoint_get(p, a, &st);
    assert_int_equal(st.inflight_tokens, 450);
    assert_int_equal(fp_request_end(p, id, 2), 0);
    fp_endpoint_get(p, a, &st);
    assert_int_equal(st.inflight_requests, 0);
    assert_int_equal(st.inflight_tokens, 0);
    assert_int_equal(fp_request_end(p, id, 3), -ENOENT);
    assert_int_equal(fp_request_first_token(p, 999999, 3), -ENOENT);
    r = mkreq(&q, NULL, 1, 300, 0, 0);
    r->max_tokens = 100;                                  /* the estimate is capped */
    pick_ok(p, r, 0);
    fp_endpoint_get(p, a, &st);
    assert_int_equal(st.inflight_tokens, 400);
    fp_policy_free(p);
}

static void test_endpoint_pool(void **state)
{
    (void)state;
    fp_policy *p = with_scorer("{name: s, type: prefix-cache-scorer}");
    uint32_t a = add_ep(p, "a", NULL, 0, 0, 0);
    fp_endpoint_desc dup = { .name = "a" };
    uint32_t id;
    char *err = NULL;
    assert_int_equal(fp_endpoint_add(p, &dup, &id, &err), -EEXIST);
    free(err);
    assert_int_equal(fp_endpoint_find(p, "a", &id), 0);
    assert_int_equal(id, a);
    assert_int_equal(fp_endpoint_find(p, "zz", &id), -ENOENT);
    req_buf q;
    fp_request *r = mkreq(&q, "a", 1, 320, 0, 0);
    uint64_t old = r->id;
    pick_ok(p, r, 0);                                     /* in flight on a, a learns */
    fp_endpoint_remove(p, a);
    assert_int_equal(fp_endpoint_count(p), 0);
    fp_result out;
    assert_int_equal(fp_pick(p, mkreq(&q, NULL, 1, 10, 0, 0), 0, &rng, &out, NULL), -ENOENT);
    uint32_t a2 = add_ep(p, "a", NULL, 0, 0, 0);
    assert_int_equal(a2, a);                              /* the slot is reused */
    assert_int_equal(fp_request_end(p, old, 0), 0);       /* the stale request ends... */
    fp_endpoint_state st;
    fp_endpoint_get(p, a2, &st);
    assert_int_equal(st.inflight_requests, 0);            /* ...without touching the new one */
    fp_result res = pick_ok(p, mkreq(&q, NULL, 1, 320, 0, 0), 0);
    assert_near(score_of(&res, 0, a2), 0.0);              /* the index forgot the old pod */
    fp_policy_free(p);
}

/* The same seed and inputs give the same decisions, with every kind of randomness. */
static void test_determinism(void **state)
{
    (void)state;
    uint32_t seq[2][400];
    for (int run = 0; run < 2; run++) {
        fp_rng r;
        fp_rng_seed(&r, 77);
        fp_policy *p = load("plugins:\n- type: queue-scorer\n- type: prefix-cache-scorer\n"
                            "- {type: prefix-cache-affinity-filter, parameters: {explorationProbability: 0.1}}\n"
                            "- type: weighted-random-picker\n");
        for (int i = 0; i < 8; i++) {
            char n[4] = { (char)('a' + i), 0 };
            add_ep(p, n, NULL, i % 3, 0, 0);
        }
        for (int i = 0; i < 400; i++) {
            req_buf q;
            fp_request *req = mkreq(&q, NULL, 1 + (uint64_t)i % 7, 300, 1000 + (uint64_t)i, 50);
            req->id = (uint64_t)i + 1;
            fp_result res;
            assert_int_equal(fp_pick(p, req, i, &r, &res, NULL), 0);
            seq[run][i] = res.decode;
            if (i >= 10)
                fp_request_end(p, (uint64_t)i - 9, i);
        }
        fp_policy_free(p);
    }
    assert_memory_equal(seq[0], seq[1], sizeof seq[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_rng, setup),
        cmocka_unit_test_setup(test_queue_scorer, setup),
        cmocka_unit_test_setup(test_running_scorer, setup),
        cmocka_unit_test_setup(test_kv_scorer_and_clamp, setup),
        cmocka_unit_test_setup(test_load_aware_scorer, setup),
        cmocka_unit_test_setup(test_active_request_scorer, setup),
        cmocka_unit_test_setup(test_token_load_scorer, setup),
        cmocka_unit_test_setup(test_weighted_sum_not_normalised, setup),
        cmocka_unit_test_setup(test_prefix_cache_scorer, setup),
        cmocka_unit_test_setup(test_prefix_block_size, setup),
        cmocka_unit_test_setup(test_prefix_greedy_and_lru, setup),
        cmocka_unit_test_setup(test_prefix_cap, setup),
        cmocka_unit_test_setup(test_prefix_hashes_formula, setup),
        cmocka_unit_test_setup(test_prefix_hashes_segments, setup),
        cmocka_unit_test_setup(test_precise_producer, setup),
        cmocka_unit_test_setup(test_no_hit_lru_scorer, setup),
        cmocka_unit_test_setup(test_session_affinity_token, setup),
        cmocka_unit_test_setup(test_session_affinity_id, setup),
        cmocka_unit_test_setup(test_header_label_affinity, setup),
        cmocka_unit_test_setup(test_role_filters, setup),
        cmocka_unit_test_setup(test_label_selector, setup),
        cmocka_unit_test_setup(test_prefix_affinity_filter, setup),
        cmocka_unit_test_setup(test_max_score_ties, setup),
        cmocka_unit_test_setup(test_max_score_several, setup),
        cmocka_unit_test_setup(test_random_pickers, setup),
        cmocka_unit_test_setup(test_baselines, setup),
        cmocka_unit_test_setup(test_pd_reference, setup),
        cmocka_unit_test_setup(test_pd_variants, setup),
        cmocka_unit_test_setup(test_inflight_events, setup),
        cmocka_unit_test_setup(test_endpoint_pool, setup),
        cmocka_unit_test_setup(test_determinism, setup),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
