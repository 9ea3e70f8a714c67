/*
 * test_traces_readers.c: cmocka tests of the trace readers, the CSV writer, the
 * transforms and the workload statistics of libfleettraces.
 *
 * Fixtures are tests/data/trace-*; malformed inputs are built in memory (fmemopen) so
 * each case shows its bytes next to the message it must produce. The shared traces
 * in ../shared/data reproduce their documented facts (skipped when absent).
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

#include "ft_workload.h"

#define FIXTURE(name) TOP_SRCDIR "/tests/data/" name
#define SHARED(name) TOP_SRCDIR "/../shared/data/traces/" name

/* ---------------------------------------------------------------- helpers */

static ft_trace_opts opts_for(const char *path, ft_format f)
{
    ft_trace_opts o = { .format = f };
    snprintf(o.path, sizeof o.path, "%s", path);
    return o;
}

static ft_source *open_ok(const ft_trace_opts *o)
{
    ft_source *s = NULL;
    char *err = NULL;
    if (ft_trace_open(o, &s, &err) != 0)
        fail_msg("open %s: %s", o->path, err ? err : "(no message)");
    return s;
}

/* Opens in-memory text as a trace named "mem" (the stream is the source's). */
static int open_mem(const char *text, const ft_trace_opts *o, ft_source **s, char **err)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(f);
    return ft_trace_fopen(f, "mem", o, s, err);
}

/* Reads every request; returns the count, or the error code (message in *err). */
static long drain(ft_source *s, char **err)
{
    ft_request r;
    long n = 0;
    int rc;
    while ((rc = ft_source_next(s, &r, err)) == 1)
        n++;
    return rc < 0 ? rc : n;
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

/* ---------------------------------------------------------------- sniffing */

static void test_sniff_formats(void **state)
{
    (void)state;
    static const struct { const char *file, *kind; } cases[] = {
        { FIXTURE("azure-good.csv"), "azure" },
        { FIXTURE("azure-2024-offset.csv"), "azure" },
        { FIXTURE("trace-burstgpt-v1.csv"), "burstgpt" },
        { FIXTURE("trace-burstgpt-v2.csv"), "burstgpt" },
        { FIXTURE("trace-mooncake.jsonl"), "mooncake" },
        { FIXTURE("trace-csv.csv"), "csv" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ft_trace_opts o = opts_for(cases[i].file, FT_FMT_AUTO);
        ft_source *s = open_ok(&o);
        ft_source_info info;
        ft_source_get_info(s, &info);
        assert_string_equal(info.kind, cases[i].kind);
        char *err = NULL;
        assert_true(drain(s, &err) > 0);
        ft_source_free(s);
    }
    ft_format f = FT_FMT_AUTO;
    assert_int_equal(ft_format_parse("mooncake", &f), 0);
    assert_int_equal(f, FT_FMT_MOONCAKE);
    assert_int_equal(ft_format_parse("parquet", &f), -EINVAL);
    assert_string_equal(ft_format_name(FT_FMT_CSV), "csv");
}

static void test_unknown_and_empty(void **state)
{
    (void)state;
    ft_trace_opts o = opts_for("", FT_FMT_AUTO);
    ft_source *s = (ft_source *)&o;
    char *err = NULL;
    assert_int_equal(open_mem("time,in,out\n1,2,3\n", &o, &s, &err), -EINVAL);
    assert_null(s);
    assert_non_null(strstr(err, "mem:1: unknown trace format"));
    free(err);
    err = NULL;
    o = opts_for(FIXTURE("trace-empty.csv"), FT_FMT_AUTO);
    assert_int_equal(ft_trace_open(&o, &s, &err), -EINVAL);
    assert_non_null(strstr(err, "trace-empty.csv:1: expected a trace"));
    assert_non_null(strstr(err, "got an empty file"));
    free(err);
    static const ft_format each[] = { FT_FMT_AZURE, FT_FMT_BURSTGPT, FT_FMT_MOONCAKE, FT_FMT_CSV };
    for (size_t i = 0; i < 4; i++) {
        err = NULL;
        o = opts_for(FIXTURE("trace-empty.csv"), each[i]);
        assert_int_equal(ft_trace_open(&o, &s, &err), -EINVAL);
        assert_non_null(strstr(err, "got an empty file"));
        free(err);
    }
    err = NULL;
    o = opts_for(FIXTURE("trace-no-such-file.csv"), FT_FMT_AUTO);
    assert_int_equal(ft_trace_open(&o, &s, &err), -ENOENT);
    assert_non_null(strstr(err, "cannot open"));
    free(err);
}

/* ---------------------------------------------------------------- BurstGPT */

static void test_burstgpt_v1(void **state)
{
    (void)state;
    ft_trace_opts o = opts_for(FIXTURE("trace-burstgpt-v1.csv"), FT_FMT_AUTO);
    ft_source *s = open_ok(&o);
    ft_request r;
    char *err = NULL;
    /* rows with 0 request or response tokens are failed requests: filtered */
    static const struct { int64_t t; uint32_t in, out; } e[] = {
        { 5000000000, 472, 18 }, { 45000000000, 1087, 230 }, { 50500000000, 300, 40 },
        { 60000000000, 100, 10 },
    };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ft_source_next(s, &r, &err), 1);
        assert_int_equal(r.arrival_ns, e[i].t);
        assert_int_equal(r.input_tokens, e[i].in);
        assert_int_equal(r.output_tokens, e[i].out);
        assert_int_equal(r.nsegs, 1);
        assert_int_equal(r.segs[0].len, e[i].in);
        assert_int_equal(r.session, 0);
    }
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    ft_source_info info;
    ft_source_get_info(s, &info);
    assert_int_equal(info.filtered, 2);
    assert_int_equal(info.skipped, 0);
    assert_false(info.shares_prefixes);
    ft_source_free(s);

    snprintf(o.model, sizeof o.model, "GPT-4");          /* filters */
    s = open_ok(&o);
    assert_int_equal(drain(s, &err), 1);
    ft_source_free(s);
    o.model[0] = '\0';
    snprintf(o.log_type, sizeof o.log_type, "API log");
    s = open_ok(&o);
    assert_int_equal(drain(s, &err), 2);
    ft_source_free(s);
    o.log_type[0] = '\0';
    o.zeros = FT_ZERO_ONE;                               /* zeros read as 1 */
    s = open_ok(&o);
    assert_int_equal(drain(s, &err), 6);
    ft_source_free(s);
    o.zeros = FT_ZERO_ERROR;
    s = open_ok(&o);
    assert_int_equal(drain(s, &err), -EINVAL);
    assert_non_null(strstr(err, "trace-burstgpt-v1.csv:4: expected a positive integer in "
                                "column Response tokens, got '0'"));
    free(err);
    ft_source_free(s);
}

static void test_burstgpt_v2_sessions(void **state)
{
    (void)state;
    ft_trace_opts o = opts_for(FIXTURE("trace-burstgpt-v2.csv"), FT_FMT_BURSTGPT);
    ft_source *s = open_ok(&o);
    ft_request r[4];
    char *err = NULL;
    for (int i = 0; i < 4; i++)
        assert_int_equal(ft_source_next(s, &r[i], &err), 1);
    assert_int_equal(r[0].arrival_ns, 1500000000);
    assert_int_equal(r[3].input_tokens, 140);
    assert_true(r[0].session != 0 && r[0].session == r[2].session);
    assert_true(r[1].session != 0 && r[1].session != r[0].session);
    assert_int_equal(r[3].session, 0);                   /* empty Session ID */
    ft_source_free(s);
}

/* ---------------------------------------------------------------- Mooncake */

static void test_mooncake_segments(void **state)
{
    (void)state;
    ft_trace_opts o = opts_for(FIXTURE("trace-mooncake.jsonl"), FT_FMT_AUTO);
    ft_source *s = open_ok(&o);
    ft_request r;
    char *err = NULL;
    uint64_t ids[3];
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(r.arrival_ns, 0);
    assert_int_equal(r.nsegs, 3);
    assert_int_equal(r.segs[0].len, 512);
    assert_int_equal(r.segs[2].len, 1100 - 1024);
    for (int i = 0; i < 3; i++)
        ids[i] = r.segs[i].content;
    assert_int_equal(ft_source_next(s, &r, &err), 1);      /* [0, 1]: 1024 shared tokens */
    assert_int_equal(r.arrival_ns, 5000000);
    assert_int_equal(r.nsegs, 2);
    assert_true(r.segs[0].content == ids[0] && r.segs[1].content == ids[1]);
    assert_int_equal(ft_source_next(s, &r, &err), 1);      /* [0, 9]; the blank line skipped */
    assert_int_equal(r.arrival_ns, 5500000);
    assert_true(r.segs[0].content == ids[0] && r.segs[1].content != ids[1]);
    assert_int_equal(r.segs[1].len, 600 - 512);
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(r.arrival_ns, 1000000000);
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    ft_source_info info;
    ft_source_get_info(s, &info);
    assert_true(info.shares_prefixes);
    ft_source_free(s);
}

/* ---------------------------------------------------------------- fleetsim CSV */

static void test_csv_columns_and_prefixes(void **state)
{
    (void)state;
    ft_trace_opts o = opts_for(FIXTURE("trace-csv.csv"), FT_FMT_AUTO);
    ft_source *s = open_ok(&o);
    ft_request r;
    char *err = NULL;
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(r.arrival_ns, 500000000);
    assert_int_equal(r.cls, 1);
    assert_int_equal(r.priority, -2);
    assert_int_equal(r.session, 7);
    assert_int_equal(r.nsegs, 2);
    assert_int_equal(r.segs[0].len, 60);
    assert_int_equal(r.segs[1].len, 40);
    uint64_t group3 = r.segs[0].content, first_unique = r.segs[1].content;
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(r.arrival_ns, 500000001);            /* exact nanoseconds */
    assert_true(r.segs[0].content == group3 && r.segs[1].content != first_unique);
    assert_int_equal(ft_source_next(s, &r, &err), 1);      /* no group: one segment */
    assert_int_equal(r.nsegs, 1);
    assert_int_equal(r.segs[0].len, 300);
    assert_int_equal(ft_source_next(s, &r, &err), 1);      /* all prefix */
    assert_int_equal(r.nsegs, 1);
    assert_true(r.segs[0].content != group3);
    assert_int_equal(ft_source_next(s, &r, &err), 0);
    ft_source_free(s);
    o = opts_for(FIXTURE("trace-csv-header-only.csv"), FT_FMT_AUTO);
    s = open_ok(&o);
    assert_int_equal(drain(s, &err), 0);
    ft_source_free(s);
}

/* Requests equal field by field, segments included. */
static void assert_same_request(const ft_request *a, const ft_request *b)
{
    assert_int_equal(a->arrival_ns, b->arrival_ns);
    assert_int_equal(a->input_tokens, b->input_tokens);
    assert_int_equal(a->output_tokens, b->output_tokens);
    assert_int_equal(a->session, b->session);
    assert_int_equal(a->cls, b->cls);
    assert_int_equal(a->priority, b->priority);
    assert_true(a->output_content == b->output_content);
    assert_int_equal(a->nsegs, b->nsegs);
    for (uint32_t i = 0; i < a->nsegs; i++) {
        assert_true(a->segs[i].content == b->segs[i].content);
        assert_int_equal(a->segs[i].len, b->segs[i].len);
    }
}

static ft_gen_config session_config(void)
{
    static ft_class cls[2];
    memset(cls, 0, sizeof cls);
    cls[0] = (ft_class){ .weight = 2, .priority = 1,
                         .input = { .kind = FT_DIST_UNIFORM, .lo = 10, .hi = 90 },
                         .output = { .kind = FT_DIST_FIXED, .mean = 20 },
                         .prefix_tokens = 100, .prefix_groups = 3 };
    cls[0].session = (ft_session){ .on = true, .turns = { .kind = FT_DIST_FIXED, .mean = 4 },
                                   .think_s = { .kind = FT_DIST_FIXED, .mean = 1 },
                                   .ttft_s = 0.1, .tpot_s = 0.01 };
    cls[1] = (ft_class){ .weight = 1, .input = { .kind = FT_DIST_FIXED, .mean = 50 },
                         .output = { .kind = FT_DIST_FIXED, .mean = 5 } };
    cls[1].rag = (ft_rag){ .on = true, .documents = 20, .per_request = 2, .zipf_s = 1,
                           .doc_tokens = { .kind = FT_DIST_FIXED, .mean = 64 } };
    ft_gen_config c = { .seed = 5, .arrival = { .kind = FT_ARR_POISSON, .rate = 4 },
                        .max_requests = 400, .classes = cls, .nclasses = 2 };
    return c;
}

/* A generated workload written as CSV reads back as the same requests. */
static void test_csv_roundtrip(void **state)
{
    (void)state;
    ft_gen_config c = session_config();
    ft_source *g = NULL, *g2 = NULL, *back = NULL;
    char *err = NULL, *buf = NULL;
    size_t len = 0;
    assert_int_equal(ft_gen_new(&c, &g, &err), 0);
    FILE *f = open_memstream(&buf, &len);
    ft_csv_writer *w = ft_csv_writer_new(f, true);
    ft_request r, q;
    while (ft_source_next(g, &r, &err) == 1)
        assert_int_equal(ft_csv_write(w, &r), 0);
    ft_csv_writer_free(w);
    fclose(f);
    ft_source_free(g);
    ft_trace_opts o = opts_for("", FT_FMT_AUTO);
    assert_int_equal(open_mem(buf, &o, &back, &err), 0);
    assert_int_equal(ft_gen_new(&c, &g2, &err), 0);
    long n = 0;
    while (ft_source_next(g2, &r, &err) == 1) {
        assert_int_equal(ft_source_next(back, &q, &err), 1);
        assert_same_request(&r, &q);
        n++;
    }
    assert_int_equal(n, 400);
    assert_int_equal(ft_source_next(back, &q, &err), 0);
    ft_source_free(g2);
    ft_source_free(back);
    free(buf);
}

/* ---------------------------------------------------------------- bad input */

typedef struct bad_case {
    ft_format format;
    const char *text;
    int good;               /* good rows before the bad one */
    const char *msg;        /* expected in the message (after "mem") */
} bad_case;

static const bad_case bad_cases[] = {
    /* a missing field */
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n1,2,3\n2,5\n", 1,
      "mem:3: expected 3 fields, got 2" },
    { FT_FMT_BURSTGPT, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
      "5,ChatGPT,472,18,490\n", 0, "mem:2: expected 6 fields, got 5" },
    { FT_FMT_MOONCAKE, "{\"timestamp\": 1, \"input_length\": 5, \"hash_ids\": [1]}\n", 0,
      "mem:1: expected an integer token count >= 0 for \"output_length\"" },
    /* a non-number */
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n1,2,3\n2,x5,1\n", 1,
      "mem:3: expected a token count (a non-negative integer) in column input_tokens, got 'x5'" },
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n1e3,2,3\n", 0,
      "mem:2: expected non-negative seconds in column arrival_s, got '1e3'" },
    { FT_FMT_AZURE, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,x\n", 0,
      "mem:2: expected an integer in column GeneratedTokens, got 'x'" },
    { FT_FMT_MOONCAKE, "{\"timestamp\": \"soon\", \"input_length\": 5, \"output_length\": 1, "
      "\"hash_ids\": [1]}\n", 0, "mem:1: expected a number of milliseconds >= 0 for \"timestamp\"" },
    /* a negative token count */
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n1,-2,3\n", 0,
      "mem:2: expected a token count (a non-negative integer) in column input_tokens, got '-2'" },
    { FT_FMT_BURSTGPT, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
      "5,ChatGPT,-472,18,490,API log\n", 0,
      "mem:2: expected a non-negative integer in column Request tokens, got '-472'" },
    { FT_FMT_MOONCAKE, "{\"timestamp\": 1, \"input_length\": -5, \"output_length\": 1, "
      "\"hash_ids\": []}\n", 0, "mem:1: expected an integer token count >= 0 for \"input_length\"" },
    /* timestamps that go backwards */
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n2,2,3\n1.5,2,3\n", 1,
      "mem:3: expected arrivals in order (not earlier than the previous row) in column "
      "arrival_s, got '1.5'" },
    { FT_FMT_BURSTGPT, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
      "9,ChatGPT,1,1,2,API log\n8,ChatGPT,1,1,2,API log\n", 1,
      "mem:3: expected timestamps in order" },
    { FT_FMT_MOONCAKE, "{\"timestamp\": 9, \"input_length\": 1, \"output_length\": 1, "
      "\"hash_ids\": [1]}\n{\"timestamp\": 8, \"input_length\": 1, \"output_length\": 1, "
      "\"hash_ids\": [1]}\n", 1, "mem:2: expected timestamps in order, but 8 ms" },
    /* a truncated file: the last line cut short */
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n1,2,3\n2,4", 1,
      "mem:3: expected 3 fields, got 2" },
    { FT_FMT_MOONCAKE, "{\"timestamp\": 1, \"input_length\": 1, \"output_length\": 1, "
      "\"hash_ids\": [1]}\n{\"timestamp\": 2, \"input_le", 1, "mem:2: expected a JSON object: " },
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n1,2,\"3\n", 0,
      "mem:2: malformed CSV at the end of the file" },
    /* invalid UTF-8 */
    { FT_FMT_BURSTGPT, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
      "5,Chat\xff\xfeGPT,1,1,2,API log\n", 0,
      "mem:2: expected UTF-8 text in column Model, got 'Chat\\xFF\\xFEGPT'" },
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n1,\xc3\x28,3\n", 0,
      "mem:2: expected a token count (a non-negative integer) in column input_tokens, "
      "got '\\xC3('" },
    { FT_FMT_MOONCAKE, "{\"timestamp\": 1, \"input_length\": 1, \"output_length\": 1, "
      "\"hash_ids\": [1], \"note\": \"\xed\xa0\x80\"}\n", 0, "mem:1: expected a JSON object: " },
    /* the format's own invariants */
    { FT_FMT_MOONCAKE, "{\"timestamp\": 1, \"input_length\": 1025, \"output_length\": 1, "
      "\"hash_ids\": [1, 2]}\n", 0,
      "mem:1: expected an array of ceil(1025 / 512) = 3 block ids for \"hash_ids\"" },
    { FT_FMT_MOONCAKE, "[1, 2]\n", 0, "mem:1: expected a JSON object {\"timestamp\"" },
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens,segments\n1,10,3,a:4 b:5\n", 0,
      "mem:2: expected segment lengths adding up to input_tokens in column segments" },
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens,prefix_group,prefix_tokens\n"
      "1,10,3,1,11\n", 0, "mem:2: expected a token count no larger than input_tokens" },
    { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens\n1,0,3\n", 0,
      "mem:2: expected a positive token count in column input_tokens, got '0'" },
};

static void check_bad(const bad_case *b, size_t i)
{
    ft_trace_opts o = opts_for("", b->format);
    ft_source *s = NULL;
    char *err = NULL;
    assert_int_equal(open_mem(b->text, &o, &s, &err), 0);
    ft_request r;
    for (int k = 0; k < b->good; k++)
        assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(ft_source_next(s, &r, &err), -EINVAL);
    assert_non_null(err);
    if (!strstr(err, b->msg))
        fail_msg("case %zu: '%s' lacks '%s'", i, err, b->msg);
    char *again = NULL;                                   /* sticky */
    assert_int_equal(ft_source_next(s, &r, &again), -EINVAL);
    assert_string_equal(again, err);
    free(again);
    free(err);
    ft_source_free(s);
    o.skip_bad_rows = true;                               /* skipped and counted */
    assert_int_equal(open_mem(b->text, &o, &s, &err), 0);
    assert_int_equal(drain(s, &err), b->good);
    ft_source_info info;
    ft_source_get_info(s, &info);
    assert_int_equal(info.skipped, 1);
    assert_non_null(info.first_skipped);
    assert_non_null(strstr(info.first_skipped, b->msg));
    ft_source_free(s);
}

static void test_bad_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++)
        check_bad(&bad_cases[i], i);
}

static void test_bad_headers(void **state)
{
    (void)state;
    static const struct { ft_format f; const char *text, *msg; } cases[] = {
        { FT_FMT_CSV, "arrival_s,input_tokens\n1,2\n", "missing column 'output_tokens'" },
        { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens,colour\n", "unknown column 'colour'" },
        { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens,class,class\n", "duplicate column" },
        { FT_FMT_CSV, "arrival_s,input_tokens,output_tokens,prefix_group\n", "prefix_group and "
          "prefix_tokens together" },
        { FT_FMT_BURSTGPT, "Timestamp,Model,Request tokens\n", "mem:1: expected the header "
          "'Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type'" },
        { FT_FMT_AZURE, "TIMESTAMP,ContextTokens\n", "mem:1: expected the header" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ft_trace_opts o = opts_for("", cases[i].f);
        o.skip_bad_rows = true;                           /* a header is never skipped */
        ft_source *s = NULL;
        char *err = NULL;
        assert_int_equal(open_mem(cases[i].text, &o, &s, &err), -EINVAL);
        assert_null(s);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
        free(err);
    }
}

/* Several bad rows among good ones: all good rows come through, the count is exact. */
static void test_skip_counts(void **state)
{
    (void)state;
    const char *text = "arrival_s,input_tokens,output_tokens\n"
                       "1,10,1\n" "x,10,1\n" "2,10,1\n" "3,a,1\n" "1,10,1\n" "4,10,1,9\n"
                       "5,10,1\n";
    ft_trace_opts o = opts_for("", FT_FMT_AUTO);
    o.skip_bad_rows = true;
    ft_source *s = NULL;
    char *err = NULL;
    assert_int_equal(open_mem(text, &o, &s, &err), 0);
    assert_int_equal(drain(s, &err), 3);
    ft_source_info info;
    ft_source_get_info(s, &info);
    assert_int_equal(info.skipped, 4);
    assert_non_null(strstr(info.first_skipped, "mem:3: expected non-negative seconds"));
    ft_source_free(s);
}

/* A 100 MB line: a message naming the line, memory bounded by the 1 MiB cap. */
static void test_huge_line(void **state)
{
    (void)state;
    size_t big = 100u << 20;
    const char *head = "arrival_s,input_tokens,output_tokens\n1,2,3\n4,";
    const char *tail = ",1\n5,6,7\n";
    char *text = malloc(strlen(head) + big + strlen(tail) + 1);
    assert_non_null(text);
    strcpy(text, head);
    memset(text + strlen(head), '9', big);
    strcpy(text + strlen(head) + big, tail);
    static const ft_format fmts[] = { FT_FMT_CSV, FT_FMT_MOONCAKE };
    for (int k = 0; k < 2; k++) {
        ft_trace_opts o = opts_for("", FT_FMT_CSV);
        ft_source *s = NULL;
        char *err = NULL;
        if (fmts[k] == FT_FMT_MOONCAKE) {
            const char *json = "{\"timestamp\": 0, \"input_length\": 1, "
                               "\"output_length\": 1, \"hash_ids\": [";
            memcpy(text, json, strlen(json));
            o.format = FT_FMT_MOONCAKE;
        }
        assert_int_equal(open_mem(text, &o, &s, &err), 0);
        ft_request r;
        if (k == 0)
            assert_int_equal(ft_source_next(s, &r, &err), 1);
        assert_int_equal(ft_source_next(s, &r, &err), -EINVAL);
        assert_non_null(strstr(err, k == 0 ? "mem:3: expected a line of at most 1048576 bytes"
                                           : "mem:1: expected a line of at most 16777216 bytes"));
        free(err);
        ft_source_free(s);
    }
    ft_trace_opts o = opts_for("", FT_FMT_CSV);           /* skipped: the next row is read */
    o.skip_bad_rows = true;
    ft_source *s = NULL;
    char *err = NULL;
    strcpy(text, head);
    memset(text + strlen(head), '9', big);
    assert_int_equal(open_mem(text, &o, &s, &err), 0);
    ft_request r;
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(ft_source_next(s, &r, &err), 1);
    assert_int_equal(r.input_tokens, 6);
    ft_source_free(s);
    free(text);
}

/* ---------------------------------------------------------------- transforms */

typedef struct count_ctx {
    int opens;
    ft_gen_config cfg;
} count_ctx;

static int open_counted(void *ctx, ft_source **out, char **err)
{
    count_ctx *c = ctx;
    c->opens++;
    return ft_gen_new(&c->cfg, out, err);
}

static ft_source *xf_open(const ft_transforms *t, count_ctx *ctx)
{
    ft_source *s = NULL;
    char *err = NULL;
    if (ft_transform_open(t, open_counted, ctx, NULL, &s, &err) != 0)
        fail_msg("transform: %s", err);
    return s;
}

static void collect(ft_source *s, int64_t *t, long *n, long cap)
{
    ft_request r;
    char *err = NULL;
    *n = 0;
    while (*n < cap && ft_source_next(s, &r, &err) == 1)
        t[(*n)++] = r.arrival_ns;
    ft_source_free(s);
}

static int64_t base_t[4000], xf_t[16000];

static void test_transforms_time(void **state)
{
    (void)state;
    count_ctx ctx = { 0, { .seed = 9, .arrival = { .kind = FT_ARR_POISSON, .rate = 10 },
                           .input = { .mean = 10 }, .output = { .mean = 2 },
                           .max_requests = 4000 } };
    long n, m;
    ft_transforms t = { 0 };
    collect(xf_open(&t, &ctx), base_t, &n, 4000);
    assert_int_equal(n, 4000);
    t.speed = 2;                                          /* twice as fast */
    collect(xf_open(&t, &ctx), xf_t, &m, 4000);
    for (long i = 0; i < n; i++)
        assert_true(llabs(xf_t[i] - base_t[i] / 2) <= 1);
    t = (ft_transforms){ .target_rate = 40 };             /* measured 10/s, so 4x */
    ctx.opens = 0;
    collect(xf_open(&t, &ctx), xf_t, &m, 4000);
    assert_int_equal(ctx.opens, 2);                       /* one pass to measure */
    double rate = (m - 0.0) / ((xf_t[m - 1] - xf_t[0]) / 1e9);
    assert_true(fabs(rate - 40) < 1e-6 * 40);
    t = (ft_transforms){ .window_start_ns = 100000000000, .window_end_ns = 200000000000,
                         .start_at_zero = true };
    collect(xf_open(&t, &ctx), xf_t, &m, 4000);
    long want = 0, first = -1;
    for (long i = 0; i < n; i++)
        if (base_t[i] >= 100000000000 && base_t[i] < 200000000000)
            want++, first = first < 0 ? i : first;
    assert_int_equal(m, want);
    assert_int_equal(xf_t[0], 0);
    assert_int_equal(xf_t[m - 1], base_t[first + m - 1] - base_t[first]);
    t = (ft_transforms){ .limit = 17 };
    collect(xf_open(&t, &ctx), xf_t, &m, 4000);
    assert_int_equal(m, 17);
}

static void test_transforms_sample_repeat(void **state)
{
    (void)state;
    count_ctx ctx = { 0, { .seed = 9, .arrival = { .kind = FT_ARR_POISSON, .rate = 10 },
                           .input = { .mean = 10 }, .output = { .mean = 2 },
                           .max_requests = 4000 } };
    long n, m;
    ft_transforms t = { .sample = 0.25, .sample_seed = 3 };
    collect(xf_open(&t, &ctx), xf_t, &m, 4000);
    assert_in_range(m, 1000 - 110, 1000 + 110);          /* 4 sd of Binomial(4000, 1/4) */
    collect(xf_open(&t, &ctx), base_t, &n, 4000);         /* the same seed, the same sample */
    assert_int_equal(n, m);
    assert_memory_equal(base_t, xf_t, (size_t)n * sizeof *xf_t);
    ctx.cfg.max_requests = 1000;
    t = (ft_transforms){ .repeat = 3 };
    ctx.opens = 0;
    collect(xf_open(&t, &ctx), xf_t, &m, 16000);
    assert_int_equal(m, 3000);
    assert_int_equal(ctx.opens, 3);
    double span = xf_t[999] - xf_t[0], gap = span / 999;
    for (long i = 0; i < 1000; i++) {                    /* copy k shifted by k (span + gap) */
        assert_true(llabs(xf_t[1000 + i] - xf_t[i] - llround(span + gap)) <= 1);
        assert_true(llabs(xf_t[2000 + i] - xf_t[i] - 2 * llround(span + gap)) <= 1);
    }
    for (long i = 1; i < m; i++)
        assert_true(xf_t[i] >= xf_t[i - 1]);
}

static void test_transforms_classes_and_ids(void **state)
{
    (void)state;
    count_ctx ctx = { 0, session_config() };
    ctx.cfg.max_requests = 300;
    ft_transforms t = { .class_mask = 1u << 1, .repeat = 2 };
    ft_source *s = xf_open(&t, &ctx);
    ft_request r;
    char *err = NULL;
    static uint64_t doc[400], out[400];
    static uint32_t len[400];
    long n = 0;
    while (ft_source_next(s, &r, &err) == 1 && n < 400) {
        assert_int_equal(r.cls, 1);                       /* the RAG class only */
        doc[n] = r.segs[0].content;
        len[n] = r.input_tokens;
        out[n++] = r.output_content;
    }
    ft_source_free(s);
    assert_true(n > 40 && n % 2 == 0);                    /* ~1/9 of 300 requests, twice */
    for (long i = 0; i < n / 2; i++) {                   /* the copy: same shape, new ids */
        assert_int_equal(len[i], len[n / 2 + i]);
        assert_true(doc[i] != doc[n / 2 + i]);
        assert_true(out[i] == 0 && out[n / 2 + i] == 0);  /* not sessions: engine's ids */
    }
    t = (ft_transforms){ .speed = 2, .target_rate = 3 };  /* rejected */
    err = NULL;
    assert_int_equal(ft_transform_open(&t, open_counted, &ctx, NULL, &s, &err), -EINVAL);
    assert_non_null(strstr(err, "not both"));
    free(err);
    err = NULL;
    t = (ft_transforms){ .window_start_ns = 5, .window_end_ns = 5 };
    assert_int_equal(ft_transform_open(&t, open_counted, &ctx, NULL, &s, &err), -EINVAL);
    free(err);
}

/* ---------------------------------------------------------------- statistics */

static ft_stats stats_of(const char *path, int prefix)
{
    ft_trace_opts o = opts_for(path, FT_FMT_AUTO);
    ft_source *s = open_ok(&o);
    ft_stats st;
    ft_stats_opts so = { .prefix = prefix };
    char *err = NULL;
    if (ft_stats_compute(s, &so, &st, &err) != 0)
        fail_msg("stats: %s", err);
    ft_source_free(s);
    return st;
}

static void test_stats_azure_2023_conv(void **state)
{
    (void)state;
    const char *path = SHARED("azure2023_AzureLLMInferenceTrace_conv.csv");
    skip_unless_present(path);
    ft_stats st = stats_of(path, -1);
    assert_int_equal(st.rows, 19366);
    assert_true(fabs(st.input.mean - 1154.7) < 0.05);
    assert_true(fabs(st.output.mean - 211.1) < 0.05);
    assert_true(fabs(st.span_s / 60 - 58.4) < 0.05);
    assert_true(fabs(st.mean_rate - 5.53) < 0.005);
    assert_true(fabs(st.gap_cv - 1.09) < 0.005);
    assert_false(st.prefix_done);                         /* no prefix structure */
    st = stats_of(SHARED("azure2023_AzureLLMInferenceTrace_code.csv"), -1);
    assert_int_equal(st.rows, 8819);
    assert_true(fabs(st.mean_rate - 2.57) < 0.005);
    assert_true(fabs(st.gap_cv - 13) < 0.5);
}

static void test_stats_mooncake(void **state)
{
    (void)state;
    const char *path = SHARED("mooncake_synthetic_trace.jsonl");
    skip_unless_present(path);
    ft_stats st = stats_of(path, -1);
    assert_int_equal(st.rows, 3993);
    assert_true(fabs(st.span_s - 1022.025) < 0.001);
    assert_true(st.prefix_done);
    assert_int_equal(st.prefix_block, 16);
    assert_true(fabs(100 * st.prefix_share - 65.1) < 0.05);
}

static void test_stats_fixture(void **state)
{
    (void)state;
    ft_stats st = stats_of(FIXTURE("trace-mooncake.jsonl"), 1);
    assert_int_equal(st.rows, 4);
    assert_true(fabs(st.span_s - 1.0) < 1e-12);
    assert_int_equal(st.peak_1s, 3);                      /* 0, 5, 5.5 ms within 1 s */
    assert_int_equal(st.peak_60s, 4);
    assert_int_equal(st.input.max, 1100);
    assert_int_equal(st.input.median, 600);
    assert_int_equal(st.output.p99, 10);
    /* second prompt: 1024 of its tokens seen; third: 512 (block 0); others: none */
    double want = (1024.0 + 512.0) / (1100 + 1024 + 600 + 1);
    assert_true(fabs(st.prefix_share - want) < 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_formats),
        cmocka_unit_test(test_unknown_and_empty),
        cmocka_unit_test(test_burstgpt_v1),
        cmocka_unit_test(test_burstgpt_v2_sessions),
        cmocka_unit_test(test_mooncake_segments),
        cmocka_unit_test(test_csv_columns_and_prefixes),
        cmocka_unit_test(test_csv_roundtrip),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_skip_counts),
        cmocka_unit_test(test_huge_line),
        cmocka_unit_test(test_transforms_time),
        cmocka_unit_test(test_transforms_sample_repeat),
        cmocka_unit_test(test_transforms_classes_and_ids),
        FS_SHARED_TEST(test_stats_azure_2023_conv),
        FS_SHARED_TEST(test_stats_mooncake),
        cmocka_unit_test(test_stats_fixture),
    };
    return cmocka_run_group_tests_name("trace readers", tests, NULL, NULL);
}
