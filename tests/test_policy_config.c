/*
 * test_policy_config.c: cmocka tests of libfleetpolicy's EndpointPickerConfig loader
 * (policies/config.c).
 *
 * Good files (tests/data/epp-*.yaml, among them the P/D example of llm-d-router.md
 * verbatim) must load unchanged and behave as configured; bad files must fail with
 * -EINVAL and a message naming file:line:column and what was wrong. llm-d's defaults
 * for absent fields are checked through the scores they produce. Every good file cut
 * short at each line, with each line deleted, and with random bytes overwritten must
 * load or fail cleanly, never crash (the sanitizer build checks for leaks too).
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

#include "fleetpolicy.h"

#define DATA TOP_SRCDIR "/tests/data/"

static const char *const good_files[] = {
    "epp-pd-reference.yaml", "epp-default.yaml", "epp-token-aware.yaml", "epp-precise.yaml",
    "epp-legacy-scorer.yaml", "epp-everything.yaml", "epp-minimal.yaml", "epp-empty.yaml",
};

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static fp_rng rng;

static fp_result pick(fp_policy *p, uint64_t id)
{
    fp_segment seg = { 1, 100 };
    fp_request r = { .id = id, .model = "m", .segs = &seg, .nsegs = 1 };
    fp_result res;
    char *err = NULL;
    if (fp_pick(p, &r, 0, &rng, &res, &err))
        fail_msg("pick: %s", err);
    return res;
}

static uint32_t add(fp_policy *p, const char *name, const char *role, int waiting, double kv)
{
    fp_label l = { "llm-d.ai/role", role };
    fp_endpoint_desc d = { .name = name, .labels = &l, .nlabels = role ? 1 : 0 };
    uint32_t id;
    assert_int_equal(fp_endpoint_add(p, &d, &id, NULL), 0);
    fp_endpoint_update(p, id, &(fp_metrics){ .waiting = waiting, .kv_usage = kv, .block_size = 16 });
    return id;
}

/* ------------------------------------------------------------------ good files */

static void test_good_files_load(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good_files / sizeof good_files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, DATA "%s", good_files[i]);
        fp_policy *p = NULL;
        char *err = NULL;
        if (fp_policy_load_file(path, &p, &err))
            fail_msg("%s: %s", good_files[i], err);
        /* Every one of them picks. */
        add(p, "d", "decode", 0, 0.1);
        add(p, "p", "prefill", 0, 0.1);
        fp_endpoint_desc d = { .name = "gold" };
        fp_label l[2] = { { "accelerator", "h100" }, { "llm-d.ai/role", "both" } };
        d.labels = l;
        d.nlabels = 2;
        uint32_t id;
        assert_int_equal(fp_endpoint_add(p, &d, &id, NULL), 0);
        pick(p, 1);
        fp_policy_free(p);
    }
}

/* The reference's P/D example: decode first, prefill on the prefill pod. */
static void test_pd_reference_file(void **state)
{
    (void)state;
    fp_policy *p = NULL;
    assert_int_equal(fp_policy_load_file(DATA "epp-pd-reference.yaml", &p, NULL), 0);
    uint32_t pf = add(p, "p", "prefill", 0, 0), d = add(p, "d", "decode", 0, 0);
    fp_result r = pick(p, 1);
    assert_int_equal(r.decode, d);
    assert_int_equal(r.prefill, pf);
    /* decode profile: prefix-cache-scorer 2 x 0 + queue-scorer 1 x 1 */
    assert_true(fabs(r.runs[0].scored[0].score - 1.0) < 1e-12);
    fp_policy_free(p);
    /* The built-in "pd" is the same text. */
    assert_int_equal(fp_policy_builtin("pd", &p, NULL), 0);
    fp_policy_free(p);
}

/* llm-d's defaults: an empty document is queue 2 + kv 2 + prefix 3 in profile "default". */
static void test_defaults_empty(void **state)
{
    (void)state;
    const char *texts[] = { "", "# nothing\n", "---\n" };
    for (int t = 0; t < 3; t++) {
        fp_policy *p = NULL;
        char *err = NULL;
        if (fp_policy_load_string("empty.yaml", texts[t], strlen(texts[t]), &p, &err))
            fail_msg("%s", err);
        add(p, "a", NULL, 0, 0.5);
        add(p, "b", NULL, 4, 0.0);
        fp_result r = pick(p, 1);
        assert_string_equal(r.primary_profile, "default");
        assert_true(fabs(r.runs[0].scored[0].score - (2 * 1.0 + 2 * 0.5 + 3 * 0)) < 1e-12);
        assert_true(fabs(r.runs[0].scored[1].score - (2 * 0.0 + 2 * 1.0 + 3 * 0)) < 1e-12);
        fp_policy_free(p);
    }
}

/* No profiles: one "default" with every scorer at weight 1 and a max-score-picker. */
static void test_defaults_no_profiles(void **state)
{
    (void)state;
    fp_policy *p = NULL;
    assert_int_equal(fp_policy_load_file(DATA "epp-minimal.yaml", &p, NULL), 0);
    uint32_t a = add(p, "a", NULL, 0, 0.5);
    add(p, "b", NULL, 4, 0.0);
    fp_result r = pick(p, 1);
    assert_string_equal(r.primary_profile, "default");
    assert_true(fabs(r.runs[0].scored[0].score - 1.5) < 1e-12);   /* 1 x 1 + 1 x 0.5 */
    assert_int_equal(r.decode, a);
    fp_policy_free(p);
    /* A profile without weights or picker. */
    const char *t = "plugins: [{type: queue-scorer, name: q}]\n"
                    "schedulingProfiles: [{name: only, plugins: [{pluginRef: q}]}]\n";
    assert_int_equal(fp_policy_load_string("t.yaml", t, strlen(t), &p, NULL), 0);
    add(p, "a", NULL, 0, 0);
    add(p, "b", NULL, 4, 0);
    r = pick(p, 1);
    assert_string_equal(r.primary_profile, "only");
    assert_true(fabs(r.runs[0].scored[0].score - 1.0) < 1e-12);
    assert_int_equal(r.runs[0].ntargets, 1);
    fp_policy_free(p);
}

/* Legacy producer parameters on the scorer configure the default producer: blockSize
   128 makes 100 shared tokens of 300 one block of three. */
static void test_legacy_scorer_params(void **state)
{
    (void)state;
    const char *t = "plugins:\n- type: prefix-cache-scorer\n  parameters:\n"
                    "    blockSizeTokens: 128\n    autoTune: false\n    prefixLengthWeight: 0\n";
    fp_policy *p = NULL;
    char *err = NULL;
    if (fp_policy_load_string("t.yaml", t, strlen(t), &p, &err))
        fail_msg("%s", err);
    uint32_t a = add(p, "a", NULL, 0, 0);
    fp_segment s1 = { 1, 300 }, s2[2] = { { 1, 150 }, { 2, 150 } };
    fp_request r1 = { .id = 1, .model = "m", .segs = &s1, .nsegs = 1 };
    fp_request r2 = { .id = 2, .model = "m", .segs = s2, .nsegs = 2 };
    fp_result res;
    assert_int_equal(fp_pick(p, &r1, 0, &rng, &res, NULL), 0);
    assert_int_equal(fp_pick(p, &r2, 0, &rng, &res, NULL), 0);
    assert_int_equal(res.decode, a);
    assert_true(fabs(res.runs[0].scored[0].score - 1.0 / 3) < 1e-12);
    fp_policy_free(p);
}

static void test_builtins(void **state)
{
    (void)state;
    size_t n = 0;
    for (const char *const *b = fp_builtin_names(); *b; b++, n++) {
        fp_policy *p = NULL;
        char *err = NULL;
        if (fp_policy_builtin(*b, &p, &err))
            fail_msg("built-in %s: %s", *b, err);
        assert_non_null(fp_builtin_text(*b));
        add(p, "a", "decode", 0, 0);
        pick(p, 1);
        fp_policy_free(p);
    }
    assert_int_equal(n, 6);
    fp_policy *p = NULL;
    char *err = NULL;
    assert_int_equal(fp_policy_builtin("nope", &p, &err), -ENOENT);
    assert_non_null(strstr(err, "round-robin"));
    free(err);
    assert_null(fp_builtin_text("nope"));
}

/* Every listed type is known to the loader (the name list and the table agree). */
static void test_plugin_types(void **state)
{
    (void)state;
    size_t n = 0;
    for (const char *const *t = fp_plugin_types(); *t; t++, n++) {
        char text[256];
        snprintf(text, sizeof text, "plugins: [{type: %s}]\n", *t);
        fp_policy *p = NULL;
        char *err = NULL;
        int rc = fp_policy_load_string("t.yaml", text, strlen(text), &p, &err);
        if (rc) {
            assert_null(strstr(err, "unknown plugin type"));
            free(err);
        }
        fp_policy_free(p);
    }
    assert_true(n >= 40);
}

/* ------------------------------------------------------------------ bad files */

static const struct bad {
    const char *file;
    int line, col;
    const char *says;
} bad_files[] = {
    { "epp-bad-unknown-type.yaml", 5, 9, "unknown plugin type 'quantum-scorer'" },
    { "epp-bad-missing-ref.yaml", 7, 5, "without a pluginRef" },
    { "epp-bad-negative-weight.yaml", 7, 13, "negative weight -1" },
    { "epp-bad-weight-type.yaml", 6, 39, "expected a number, got 'heavy'" },
    { "epp-bad-dangling-ref.yaml", 6, 16, "'kv-cache-utilization-scorer' names no plugin" },
    { "epp-bad-duplicate-name.yaml", 3, 9, "duplicate plugin name 'queue-scorer'" },
    { "epp-bad-two-pickers.yaml", 8, 16, "two pickers" },
    { "epp-bad-no-handler.yaml", 5, 1, "need a profile handler" },
    { "epp-bad-two-handlers.yaml", 3, 3, "second profile handler" },
    { "epp-bad-yaml.yaml", 3, 24, "invalid YAML" },
    { "epp-bad-param.yaml", 4, 5, "unknown key 'treshold'" },
    { "epp-bad-param-range.yaml", 4, 25, "expected a number in [0, 1]" },
    { "epp-bad-api-version.yaml", 1, 13, "unsupported apiVersion" },
    { "epp-bad-kind.yaml", 2, 7, "unsupported kind 'InferencePool'" },
    { "epp-bad-decider.yaml", 6, 25, "decider 'prefix-based-pd-decider' names no plugin" },
    { "epp-bad-disagg-profile.yaml", 5, 15, "no scheduling profile named 'decode'" },
    { "epp-bad-top-key.yaml", 3, 1, "unknown key 'schedulingProfile'" },
    { "epp-bad-producer-ref.yaml", 5, 34, "publishes no prefix-cache matches" },
    { "epp-bad-plugins-map.yaml", 2, 3, "expected plugins as a sequence" },
    { "epp-bad-handler-in-profile.yaml", 7, 16, "cannot be in a scheduling profile" },
    { "epp-bad-single-two-profiles.yaml", 3, 3, "needs exactly one scheduling profile" },
    { "epp-bad-no-type.yaml", 2, 3, "plugin without a type" },
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        const struct bad *b = &bad_files[i];
        char path[512], where[600];
        snprintf(path, sizeof path, DATA "%s", b->file);
        snprintf(where, sizeof where, "%s:%d:%d: ", path, b->line, b->col);
        fp_policy *p = NULL;
        char *err = NULL;
        int rc = fp_policy_load_file(path, &p, &err);
        if (rc != -EINVAL || !err || strncmp(err, where, strlen(where)) != 0 ||
            !strstr(err, b->says))
            fail_msg("%s: rc %d, message '%s'; expected '%s... %s'", b->file, rc,
                     err ? err : "(none)", where, b->says);
        assert_null(p);
        free(err);
    }
    fp_policy *p = NULL;
    char *err = NULL;
    assert_int_equal(fp_policy_load_file(DATA "epp-does-not-exist.yaml", &p, &err), -ENOENT);
    assert_non_null(err);
    free(err);
}

/* Inline bad snippets: parameters of each kind of plugin are checked. */
static void test_bad_parameters(void **state)
{
    (void)state;
    static const struct { const char *text, *says; } cases[] = {
        { "plugins: [{type: queue-scorer, parameters: {x: 1}}]", "unknown key 'x'" },
        { "plugins: [{type: session-affinity-scorer, parameters: {algorithm: magic}}]",
          "unknown algorithm 'magic'" },
        { "plugins: [{type: prefix-cache-affinity-filter, parameters: {ttftSource: latencyPredictor}}]",
          "not supported" },
        { "plugins: [{type: prefix-cache-affinity-filter, parameters: {prefillCalibrationFile: /x}}]",
          "not supported" },
        { "plugins: [{type: header-label-affinity-scorer}]", "needs headerName and labelKey" },
        { "plugins: [{type: label-selector-filter, parameters: {matchExpressions: [{key: a, operator: Near}]}}]",
          "expected operator In" },
        { "plugins: [{type: label-selector-filter, parameters: {matchExpressions: [{key: a, operator: In}]}}]",
          "need a non-empty values list" },
        { "plugins: [{type: approx-prefix-cache-producer, parameters: {autoTune: false, blockSizeTokens: 0}}, {type: prefix-cache-scorer}]",
          "blockSizeTokens must be > 0" },
        { "plugins: [{type: precise-prefix-cache-producer, parameters: {speculativeIndexing: true}}]",
          "speculativeIndexing is not supported" },
        { "plugins: [{type: prefix-based-pd-decider, parameters: {nonCachedTokens: -5}}]",
          "expected an integer in [0," },
        { "plugins: [{type: disagg-profile-handler, parameters: {stageOrder: sideways}}]",
          "unknown stageOrder" },
        { "plugins: [{type: inflight-load-producer}, {type: inflight-load-producer, name: x}]",
          "two inflight-load-producer" },
        { "plugins: [{type: queue-scorer, parameters: [1, 2]}]", "as a mapping" },
        { "plugins: [{type: queue-scorer, extra: 1}]", "unknown key 'extra' in a plugin" },
        { "schedulingProfiles: [{name: a}, {name: a}]", "duplicate scheduling profile 'a'" },
        { "plugins: [{type: prefix-cache-scorer, parameters: {blockSize: 64, prefixMatchInfoProducerName: x}}, {type: approx-prefix-cache-producer, name: x}]",
          "apply to the default approximate producer" },
        { "[1, 2]", "expected an EndpointPickerConfig" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fp_policy *p = NULL;
        char *err = NULL;
        int rc = fp_policy_load_string("inline.yaml", cases[i].text, strlen(cases[i].text), &p, &err);
        if (rc != -EINVAL || !err || strncmp(err, "inline.yaml:", 12) != 0 ||
            !strstr(err, cases[i].says))
            fail_msg("case %zu: rc %d, '%s'; expected '%s'", i, rc, err ? err : "(none)",
                     cases[i].says);
        free(err);
    }
}

/* ------------------------------------------------------------------ robustness */

static void try_load(const char *text, size_t len)
{
    fp_policy *p = NULL;
    char *err = NULL;
    int rc = fp_policy_load_string("cut.yaml", text, len, &p, &err);
    if (rc == 0) {
        assert_non_null(p);
        fp_policy_free(p);
    } else {
        assert_true(rc == -EINVAL || rc == -ENOMEM);
        assert_non_null(err);
        assert_int_equal(strncmp(err, "cut.yaml", 8), 0);
        free(err);
    }
}

static void test_truncated_and_mutated(void **state)
{
    (void)state;
    fp_rng_seed(&rng, 3);
    for (size_t i = 0; i < sizeof good_files / sizeof good_files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, DATA "%s", good_files[i]);
        size_t len;
        char *text = slurp(path, &len), *buf = malloc(len + 1);
        assert_non_null(buf);
        for (size_t cut = 0; cut <= len; cut++)          /* every prefix ending a line */
            if (cut == len || text[cut] == '\n')
                try_load(text, cut);
        for (size_t at = 0; at < len;) {                  /* each line deleted */
            size_t end = at;
            while (end < len && text[end] != '\n')
                end++;
            end += end < len;
            memcpy(buf, text, at);
            memcpy(buf + at, text + end, len - end);
            try_load(buf, len - (end - at));
            at = end;
        }
        static const char junk[] = " -:{}[],#\"'\n\tx0";
        for (int m = 0; m < 150 && len > 0; m++) {        /* random bytes overwritten */
            memcpy(buf, text, len);
            for (int k = 0; k < 3; k++)
                buf[fp_rng_below(&rng, len)] = junk[fp_rng_below(&rng, sizeof junk - 1)];
            try_load(buf, len);
        }
        free(text);
        free(buf);
    }
}

int main(void)
{
    fp_rng_seed(&rng, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_files_load),
        cmocka_unit_test(test_pd_reference_file),
        cmocka_unit_test(test_defaults_empty),
        cmocka_unit_test(test_defaults_no_profiles),
        cmocka_unit_test(test_legacy_scorer_params),
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_plugin_types),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_parameters),
        cmocka_unit_test(test_truncated_and_mutated),
    };
    return cmocka_run_group_tests_name("policy_config", tests, NULL, NULL);
}
