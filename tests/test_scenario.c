/*
 * test_scenario.c: scenario loading: the bundled quick start, defaults, catalogue
 * overrides and inline definitions, trace paths resolved against the scenario's
 * directory, and rejection of inconsistent scenarios. Positioned error messages of bad
 * scenarios are checked end to end by tests/e2e.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fm_models.h"
#include "scenario.h"

static fm_catalog *cat;
static char dir[] = "/tmp/fleetsim-test-scenario-XXXXXX";

static int setup(void **state)
{
    char *err = NULL;
    if (fm_catalog_load_dir(TOP_SRCDIR "/models/catalog", &cat, &err) != 0) {
        fprintf(stderr, "catalogue: %s\n", err);
        free(err);
        return -1;
    }
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    fm_catalog_free(cat);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes `text` to DIR/name and returns the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int load_text(const char *text, fs_scenario *sc, char **err)
{
    return fs_scenario_load(write_file("s.yaml", text), cat, sc, err);
}

#define WORKLOAD "workload: {requests: 10, arrival: {process: poisson, rate: 2}, input: 100, output: 10}\n"

static void test_quickstart(void **state)
{
    fs_scenario sc;
    char *err = NULL;
    assert_int_equal(fs_scenario_load(TOP_SRCDIR "/scenarios/quickstart.yaml", cat, &sc, &err), 0);
    assert_string_equal(sc.name, "quickstart");
    assert_int_equal(sc.seed, 42);
    assert_string_equal(sc.llm.name, "llama-3.1-8b");
    assert_string_equal(sc.accel.name, "H100-SXM");
    assert_int_equal(sc.tp, 1);
    assert_int_equal(sc.engine.max_num_batched_tokens, 8192);
    assert_int_equal(sc.workload.kind, FT_SPEC_GENERATOR);
    assert_int_equal(sc.workload.gen.max_requests, 1000);
    assert_int_equal(sc.workload.gen.seed, 42);
    assert_int_equal(sc.workload.gen.arrival.kind, FT_ARR_POISSON);
    assert_true(sc.workload.gen.arrival.rate == 4);
    assert_int_equal(sc.workload.gen.input.kind, FT_DIST_LOGNORMAL);
    assert_true(sc.workload.gen.input.mean == 1000 && sc.workload.gen.input.hi == 8000);
    assert_true(sc.slo.ttft_s == 0.5 && sc.slo.tpot_s == 0.05 && sc.slo.percentile == 0.9);
    assert_non_null(strstr(sc.text, "Quick start"));
    fs_scenario_free(&sc);
}

static void test_defaults(void **state)
{
    fs_scenario sc;
    char *err = NULL;
    assert_int_equal(load_text("model: llama-3.1-8b\naccelerator: H100-SXM\n" WORKLOAD, &sc, &err), 0);
    assert_string_equal(sc.name, "s");
    assert_int_equal(sc.engine.block_size, 16);
    assert_int_equal(sc.engine.max_num_seqs, 256);
    assert_true(sc.engine.enable_prefix_caching && sc.engine.enable_chunked_prefill);
    assert_int_equal(sc.engine.max_model_len, sc.llm.max_model_len);
    assert_true(sc.gpu_memory_utilization == 0.9);
    assert_string_equal(sc.latency_model, "roofline");
    assert_int_equal(sc.workload.gen.output.kind, FT_DIST_FIXED);
    assert_true(sc.workload.gen.output.mean == 10);
    assert_false(sc.slo.ttft_s > 0);
    fs_scenario_free(&sc);
}

static void test_overrides(void **state)
{
    fs_scenario sc;
    char *err = NULL;
    const char *text = "model: {base: llama-3.1-70b, max_model_len: 32768}\n"
                       "accelerator: {base: h100-sxm, price_per_hour: 2.1}\n"
                       "tp: 4\nengine: {max_model_len: 16384, scheduling_policy: priority}\n" WORKLOAD;
    assert_int_equal(load_text(text, &sc, &err), 0);
    const fm_accel *h100 = fm_catalog_accel(cat, "H100-SXM");
    assert_true(sc.accel.price_per_hour == 2.1);
    assert_true(sc.accel.bf16_flops == h100->bf16_flops);
    assert_int_equal(sc.llm.max_model_len, 32768);
    assert_int_equal(sc.llm.n_layers, fm_catalog_llm(cat, "llama-3.1-70b")->n_layers);
    assert_int_equal(sc.engine.max_model_len, 16384);
    assert_true(sc.engine.priority_scheduling);
    fs_scenario_free(&sc);
}

static void test_inline_accelerator_must_be_complete(void **state)
{
    fs_scenario sc;
    char *err = NULL;
    const char *text = "model: llama-3.1-8b\naccelerator: {bf16_tflops: 100}\n" WORKLOAD;
    assert_int_equal(load_text(text, &sc, &err), -EINVAL);
    assert_non_null(err);
    free(err);
}

/* A catalogue directory without files loads empty; a name then says so, not "known: ". */
static void test_empty_catalogue_named(void **state)
{
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty-catalogue", dir);
    assert_int_equal(mkdir(empty, 0700), 0);
    fm_catalog *none = NULL;
    char *err = NULL;
    assert_int_equal(fm_catalog_load_dir(empty, &none, &err), 0);
    fs_scenario sc;
    const char *path = write_file("s.yaml", "model: llama-3.1-8b\naccelerator: H100-SXM\n" WORKLOAD);
    assert_int_equal(fs_scenario_load(path, none, &sc, &err), -EINVAL);
    assert_non_null(strstr(err, "unknown model 'llama-3.1-8b'"));
    assert_non_null(strstr(err, "the catalogue is empty"));
    free(err);
    fm_catalog_free(none);
}

static void test_trace_path_relative_to_scenario(void **state)
{
    write_file("t.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                        "2023-11-16 18:15:46.6805900,374,44\n");
    fs_scenario sc;
    char *err = NULL;
    assert_int_equal(load_text("model: llama-3.1-8b\naccelerator: H100-SXM\n"
                               "workload: {trace: {format: azure, path: t.csv}}\n", &sc, &err), 0);
    assert_int_equal(sc.workload.kind, FT_SPEC_TRACE);
    char want[600];
    snprintf(want, sizeof want, "%s/t.csv", dir);
    assert_string_equal(sc.workload.trace.path, want);
    ft_source *src = NULL;
    ft_request r;
    assert_int_equal(fs_scenario_open_workload(&sc, &src, &err), 0);
    assert_int_equal(ft_source_next(src, &r, &err), 1);
    assert_int_equal(r.input_tokens, 374);
    assert_int_equal(r.output_tokens, 44);
    ft_source_free(src);
    fs_scenario_free(&sc);
}

static void test_rejections(void **state)
{
    static const struct { const char *text, *msg; } cases[] = {
        {"model: llama-3.1-8b\naccelerator: H100-SXM\nengine: {max_model_len: 200000}\n" WORKLOAD,
         "exceeds"},
        {"model: llama-3.1-8b\naccelerator: H100-SXM\nlatency_model: magic\n" WORKLOAD,
         "s.yaml:3:16: unknown latency model 'magic'"},
        {"model: {base: llama-3.1-8b, hf_config: x.json}\naccelerator: H100-SXM\n" WORKLOAD,
         "not both"},
        {"model: llama-3.1-8b\naccelerator: H100-SXM\nworkload: {trace: {path: x.csv}, requests: 3}\n",
         "takes only trace"},
        {"- a\n- b\n", "expected a mapping of scenario keys"},
        {"model: llama-3.1-8b\naccelerator: H100-SXM\n"
         "workload: {requests: 1, arrival: {process: gamma}, input: 1, output: 1}\n",
         "arrival needs a rate"},
        {"model: llama-3.1-8b\naccelerator: H100-SXM\nengine: {scheduling_policy: lifo}\n" WORKLOAD,
         "expected fcfs or priority"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fs_scenario sc;
        char *err = NULL;
        assert_int_not_equal(load_text(cases[i].text, &sc, &err), 0);
        assert_non_null(err);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        assert_null(sc.text);
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quickstart),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_inline_accelerator_must_be_complete),
        cmocka_unit_test(test_empty_catalogue_named),
        cmocka_unit_test(test_trace_path_relative_to_scenario),
        cmocka_unit_test(test_rejections),
    };
    return cmocka_run_group_tests_name("scenario", tests, setup, teardown);
}
