/*
 * test_traces_spec.c: cmocka tests of workload specs (the `workload:` section):
 * every generator shape and trace option read into the right fields, transforms,
 * the seed and request overrides, a source outliving its spec, and positioned
 * messages for bad sections.
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

#include "ft_spec.h"
#include "fu_yaml.h"

#define DATA TOP_SRCDIR "/tests/data"
#define SHARED_DIR TOP_SRCDIR "/../shared/data/traces"

/* Reads `text` (a workload mapping) with paths relative to tests/data. */
static int spec_of(const char *text, ft_spec *s, char **err)
{
    fu_yaml *doc = NULL;
    int rc = fu_yaml_load_string("w.yaml", text, strlen(text), &doc, err);
    if (rc == 0)
        rc = ft_spec_from_yaml(fu_yaml_root(doc), DATA, 42, s, err);
    fu_yaml_free(doc);
    return rc;
}

static void spec_ok(const char *text, ft_spec *s)
{
    char *err = NULL;
    if (spec_of(text, s, &err) != 0)
        fail_msg("spec: %s", err ? err : "(no message)");
}

static long count(const ft_spec *s)
{
    ft_source *src = NULL;
    char *err = NULL;
    if (ft_spec_open(s, &src, &err) != 0)
        fail_msg("open: %s", err);
    ft_request r;
    long n = 0;
    int rc;
    while ((rc = ft_source_next(src, &r, &err)) == 1)
        n++;
    if (rc < 0)
        fail_msg("next: %s", err);
    ft_source_free(src);
    return n;
}

static void test_legacy_generator(void **state)
{
    (void)state;
    ft_spec s;
    spec_ok("requests: 50\narrival: {process: gamma, rate: 6, cv: 2}\n"
            "shared_prefix: {tokens: 1500, groups: 8}\n"
            "input: {dist: lognormal, mean: 400, sd: 300, min: 8, max: 8000}\noutput: 200\n", &s);
    assert_int_equal(s.kind, FT_SPEC_GENERATOR);
    assert_int_equal(s.gen.seed, 42);
    assert_int_equal(s.gen.nclasses, 0);                  /* the first generator's fields */
    assert_int_equal(s.gen.arrival.kind, FT_ARR_GAMMA);
    assert_true(s.gen.arrival.cv == 2);
    assert_int_equal(s.gen.prefix_tokens, 1500);
    assert_int_equal(s.gen.input.kind, FT_DIST_LOGNORMAL);
    assert_true(s.gen.input.lo == 8 && s.gen.output.mean == 200);
    assert_int_equal(count(&s), 50);
    ft_spec_set_requests(&s, 7);
    assert_int_equal(count(&s), 7);
    ft_spec_free(&s);
    ft_spec_free(&s);                                     /* zeroed: harmless */
}

static void test_arrival_processes(void **state)
{
    (void)state;
    static const struct { const char *yaml; ft_arrival_kind kind; } cases[] = {
        { "{process: poisson, rate: 3}", FT_ARR_POISSON },
        { "{process: weibull, rate: 3, cv: 4}", FT_ARR_WEIBULL },
        { "{process: onoff, rate: 30, off_rate: 1, on: 2s, off: 500ms}", FT_ARR_ONOFF },
        { "{process: diurnal, rate: 3, amplitude: 0.9, period: 1h, peak: 30m}", FT_ARR_DIURNAL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[256];
        snprintf(text, sizeof text, "requests: 20\narrival: %s\ninput: 10\noutput: 1\n",
                 cases[i].yaml);
        ft_spec s;
        spec_ok(text, &s);
        assert_int_equal(s.gen.arrival.kind, cases[i].kind);
        assert_int_equal(count(&s), 20);
        if (cases[i].kind == FT_ARR_ONOFF)
            assert_true(s.gen.arrival.on_s == 2 && s.gen.arrival.off_s == 0.5);
        if (cases[i].kind == FT_ARR_DIURNAL)
            assert_true(s.gen.arrival.period_s == 3600 && s.gen.arrival.peak_s == 1800);
        ft_spec_free(&s);
    }
}

static void test_shapes_and_classes(void **state)
{
    (void)state;
    ft_spec s;
    spec_ok("requests: 300\narrival: {process: poisson, rate: 5}\noutput: 20\n"
            "classes:\n"
            "  - name: chat\n    weight: 3\n    input: 50\n"
            "    shared_prefix: {tokens: 100, groups: 2, users: 4}\n"
            "    session: {turns: {dist: uniform, min: 2, max: 6}, think: 3s, ttft: 100ms,"
            " tpot: 10ms}\n"
            "  - name: rag\n    priority: 2\n    input: 30\n"
            "    rag: {documents: 100, doc_tokens: {dist: normal, mean: 500, sd: 50},"
            " per_request: 3, zipf: 0.8}\n"
            "  - {name: agent, input: 2000, output: 30,"
            " agent: {calls: 30, tool_tokens: 100, tool_time: {dist: lognormal, mean: 2, sd: 1},"
            " max_context: 16000}}\n"
            "transforms: {classes: [rag, 2]}\n", &s);
    assert_int_equal(s.gen.nclasses, 3);
    const ft_class *c = s.gen.classes;
    assert_string_equal(c[0].name, "chat");
    assert_true(c[0].weight == 3 && c[1].weight == 1);
    assert_true(c[0].output.mean == 20);                  /* the top level's default */
    assert_int_equal(c[0].prefix_users, 4);
    assert_true(c[0].session.on && c[0].session.turns.kind == FT_DIST_UNIFORM);
    assert_true(c[0].session.think_s.mean == 3 && fabs(c[0].session.tpot_s - 0.01) < 1e-12);
    assert_int_equal(c[1].priority, 2);
    assert_true(c[1].rag.on && c[1].rag.per_request == 3 && c[1].rag.zipf_s == 0.8);
    assert_true(c[2].session.on && c[2].session.followup.mean == 100);
    assert_true(c[2].session.think_s.kind == FT_DIST_LOGNORMAL);
    assert_int_equal(c[2].session.max_context, 16000);
    assert_true(s.xf.class_mask == ((1u << 1) | (1u << 2)));
    ft_source *src = NULL;
    char *err = NULL;
    assert_int_equal(ft_spec_open(&s, &src, &err), 0);
    ft_spec_free(&s);                                     /* the source keeps its tables */
    ft_request r;
    long n = 0;
    while (ft_source_next(src, &r, &err) == 1) {
        assert_true(r.cls == 1 || r.cls == 2);
        n++;
    }
    assert_true(n > 20);
    ft_source_free(src);
}

static void test_empirical_sources(void **state)
{
    (void)state;
    ft_spec s;
    spec_ok("requests: 100\narrival: {process: poisson, rate: 5}\n"
            "input: {dist: empirical, values: [10, 20], weights: [1, 3]}\n"
            "output: {dist: empirical, trace: trace-csv.csv, field: output, max: 25}\n", &s);
    assert_int_equal(s.gen.input.kind, FT_DIST_EMPIRICAL);
    assert_int_equal(s.gen.input.nvalues, 2);
    assert_int_equal(s.gen.output.nvalues, 4);            /* 4, 10, 20, 30 from the trace */
    assert_true(s.gen.output.values[0] == 4 && s.gen.output.values[3] == 30);
    assert_true(s.gen.output.hi == 25);
    assert_int_equal(count(&s), 100);
    ft_spec_free(&s);
    FILE *f = fopen(SHARED_DIR "/servegen/language__m-large__chunk-0-trace.csv", "rb");
    if (!f) {
        print_message("# skipped the ServeGen part: shared data absent\n");
        return;
    }
    fclose(f);
    spec_ok("duration: 1h\n"
            "arrival: {process: servegen, path: ../../../shared/data/traces/servegen/"
            "language__m-large__chunk-0-trace.csv, scale: 2}\n"
            "input: {dist: servegen, path: ../../../shared/data/traces/servegen/"
            "language__m-large__chunk-0-dataset.json, window: '0'}\n"
            "output: {dist: servegen, path: ../../../shared/data/traces/servegen/"
            "language__m-large__chunk-0-dataset.json}\n", &s);
    assert_int_equal(s.gen.arrival.kind, FT_ARR_WINDOWS);
    assert_int_equal(s.gen.arrival.nwindows, 2016);
    assert_true(s.gen.arrival.rate == 2);
    assert_true(s.gen.input.nvalues > 100);
    assert_true(count(&s) > 1000);
    ft_spec_free(&s);
}

static void test_trace_spec(void **state)
{
    (void)state;
    ft_spec s;
    spec_ok("trace: {path: trace-burstgpt-v1.csv, format: burstgpt, zeros: one,"
            " model: ChatGPT, skip_bad_rows: true}\n"
            "transforms: {window: {start: 10s}, speed: 2, start_at_zero: true, requests: 2}\n", &s);
    assert_int_equal(s.kind, FT_SPEC_TRACE);
    assert_int_equal(s.trace.format, FT_FMT_BURSTGPT);
    assert_int_equal(s.trace.zeros, FT_ZERO_ONE);
    assert_string_equal(s.trace.model, "ChatGPT");
    assert_true(s.trace.skip_bad_rows);
    assert_non_null(strstr(s.trace.path, "tests/data/trace-burstgpt-v1.csv"));
    assert_true(s.xf.window_start_ns == 10000000000 && s.xf.speed == 2 && s.xf.limit == 2);
    ft_source *src = NULL;
    char *err = NULL;
    ft_request r;
    assert_int_equal(ft_spec_open(&s, &src, &err), 0);
    assert_int_equal(ft_source_next(src, &r, &err), 1);   /* 45 s is the first after 10 s */
    assert_int_equal(r.arrival_ns, 0);
    assert_int_equal(ft_source_next(src, &r, &err), 1);   /* 51 s (zeros read as 1): 3 s */
    assert_int_equal(r.arrival_ns, 3000000000);
    assert_int_equal(ft_source_next(src, &r, &err), 0);   /* the limit */
    ft_source_free(src);
    ft_spec_set_requests(&s, 1);
    assert_int_equal(count(&s), 1);
    ft_spec_free(&s);
    spec_ok("trace: {path: trace-mooncake.jsonl}\ntransforms: {repeat: 3, rate: 8}\n", &s);
    assert_int_equal(count(&s), 12);
    ft_spec_free(&s);
}

static void test_seed_override(void **state)
{
    (void)state;
    const char *text = "requests: 30\narrival: {process: poisson, rate: 5}\ninput: 10\n"
                       "output: 1\ntransforms: {sample: 0.5}\n";
    ft_spec a, b;
    spec_ok(text, &a);
    spec_ok(text, &b);
    ft_spec_set_seed(&b, 43);
    assert_int_equal(b.gen.seed, 43);
    assert_true(a.xf.sample_seed != b.xf.sample_seed);
    ft_source *x = NULL, *y = NULL;
    char *err = NULL;
    assert_int_equal(ft_spec_open(&a, &x, &err), 0);
    assert_int_equal(ft_spec_open(&b, &y, &err), 0);
    ft_request r, q;
    assert_int_equal(ft_source_next(x, &r, &err), 1);
    assert_int_equal(ft_source_next(y, &q, &err), 1);
    assert_true(r.arrival_ns != q.arrival_ns);
    ft_source_free(x);
    ft_source_free(y);
    ft_spec_free(&a);
    ft_spec_free(&b);
}

static void test_rejections(void **state)
{
    (void)state;
    static const struct { const char *text, *msg; } cases[] = {
        { "requests: 5\narrival: {process: poisson, rate: 1, cv: 2}\ninput: 1\noutput: 1\n",
          "w.yaml:2:38: unknown key 'cv' in arrival (expected one of: rate, process)" },
        { "requests: 5\narrival: {process: onoff, rate: 1}\ninput: 1\noutput: 1\n",
          "w.yaml:2:10: an onoff arrival needs on: and off:" },
        { "requests: 5\narrival: {process: zipf, rate: 1}\ninput: 1\noutput: 1\n",
          "w.yaml:2:10: expected arrival: {process: poisson|gamma|weibull|onoff|diurnal|servegen" },
        { "requests: 5\narrival: {process: servegen}\ninput: 1\noutput: 1\n",
          "expected a path to a ServeGen trace" },
        { "trace: {path: trace-csv.csv, format: parquet}\n",
          "w.yaml:1:38: unknown trace format 'parquet' (known: auto, azure, burstgpt, mooncake, csv)" },
        { "trace: {path: trace-csv.csv, zeros: maybe}\n", "unknown zeros policy 'maybe'" },
        { "trace: {path: nope.csv}\n", "w.yaml:1:15: cannot open trace" },
        { "trace: {path: trace-csv.csv}\ntransforms: {speed: 2, rate: 3}\n",
          "w.yaml:2:13: give speed: or rate:, not both" },
        { "trace: {path: trace-csv.csv}\ntransforms: {window: {start: 2m, end: 1m}}\n",
          "expected a window whose end is after its start" },
        { "trace: {path: trace-csv.csv}\ntransforms: {classes: [chat]}\n",
          "w.yaml:2:24: expected a class number 0..63 or the name of a class, got 'chat'" },
        { "trace: {path: trace-csv.csv}\nrequests: 3\n", "takes only trace" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\noutput: 1\nclasses: []\n",
          "expected a list of 1 to 64 classes" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\noutput: 1\nclasses: [{name: a}]\n",
          "a class needs input and output" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\ninput: 1\noutput: 1\n"
          "rag: {documents: 3}\n", "rag needs documents: (pool size) and doc_tokens:" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\ninput: 1\noutput: 1\n"
          "session: {think: 1s}\n", "session needs turns:" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\ninput: 1\noutput: 1\n"
          "session: {turns: 2}\nagent: {calls: 3}\n", "give session: or agent:, not both" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\noutput: 1\n"
          "input: {dist: empirical, values: [1, 2], weights: [1]}\n",
          "expected as many weights as values (2), got 1" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\noutput: 1\n"
          "input: {dist: empirical, trace: trace-csv.csv, field: colour}\n",
          "expected field: input or output" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\noutput: 1\n"
          "input: {dist: zipf}\n", "expected dist: fixed, uniform, normal or lognormal in input" },
        { "requests: 5\narrival: {process: poisson, rate: 1}\ninput: 1\noutput: 1\n"
          "session: {turns: 2, think: soon}\n", "expected a duration" },
        { "[1, 2]\n", "expected a mapping for workload" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ft_spec s;
        memset(&s, 0x5a, sizeof s);
        char *err = NULL;
        assert_int_not_equal(spec_of(cases[i].text, &s, &err), 0);
        assert_non_null(err);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        assert_null(s.store);                             /* zeroed on failure */
        free(err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_generator),
        cmocka_unit_test(test_arrival_processes),
        cmocka_unit_test(test_shapes_and_classes),
        cmocka_unit_test(test_empirical_sources),
        cmocka_unit_test(test_trace_spec),
        cmocka_unit_test(test_seed_override),
        cmocka_unit_test(test_rejections),
    };
    return cmocka_run_group_tests_name("workload specs", tests, NULL, NULL);
}
