/*
 * cmd_step.c: `fleetsim step`: the predicted time of one engine step (one batch) on a
 * replica, with where the time goes, and the replica's KV-cache capacity.
 *
 * It is the quickest way to see what the latency model believes: the batch is given
 * on the command line (--prefill N for a sequence of N new tokens; --decode B
 * --context C for B sequences of one new token each with C tokens of context), the
 * replica by accelerator, model and TP degree. The KV capacity is sized as vLLM would
 * at start-up and printed like vLLM's log lines, so the two can be compared directly.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "fm_latency.h"
#include "fm_models.h"

#define MAX_GROUPS 64 /* --prefill / --decode / --context given at most this often */

typedef struct step_opts {
    const char *accel, *model, *catalog, *latency;
    int tp;
    bool json;
    long prefill[MAX_GROUPS], decode[MAX_GROUPS], context[MAX_GROUPS];
    size_t n_prefill, n_decode, n_context;
    double util;
    long block_size, batched_tokens, max_seqs;
} step_opts;

/* What was computed, for either printer. */
typedef struct step_result {
    const fm_accel *accel;
    const fm_llm *llm;
    size_t n_seqs;
    double new_tokens, context_tokens;
    fm_step_breakdown bd;
    int kv_rc;            /* 0: kv is valid; else kv_err says why */
    fm_kv_sizing kv;
    char *kv_err;
} step_result;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim step --accelerator NAME --model NAME|CONFIG.json [OPTIONS]\n"
            "                     [--prefill N]... [--decode B --context C]...\n\n"
            "Predicts the time of one engine step for the given batch on one replica and\n"
            "shows where it goes (compute, memory, communication, overhead), and sizes the\n"
            "replica's KV cache as vLLM does at start-up.\n\n"
            "batch (at least one):\n"
            "  --prefill N          one sequence computing N new tokens from context 0\n"
            "  --decode B           B sequences of one new token each ...\n"
            "  --context C          ... with C tokens of context (the i-th --context goes\n"
            "                       with the i-th --decode; later decodes reuse the last)\n\n"
            "options:\n"
            "  --accelerator NAME   catalogue accelerator, e.g. H100-SXM\n"
            "  --model NAME|PATH    catalogue LLM, or a Hugging Face config.json\n"
            "  --tp N               tensor-parallel degree (default 1)\n"
            "  --latency KIND       latency model (default roofline)\n"
            "  --catalog DIR        read accelerators and LLMs from DIR (default: bundled)\n"
            "  --gpu-memory-utilization F   (default 0.9)\n"
            "  --block-size N       KV block size in tokens (default 16)\n"
            "  --max-num-batched-tokens N   activation reserve sizing (default 8192)\n"
            "  --max-num-seqs N     logits reserve sizing (default 256)\n"
            "  --json               print one JSON object\n"
            "  -h, --help           show this help\n\n"
            "Exit status: 0 done; 2 bad input, or the model does not fit the replica\n"
            "(the step prediction is still printed).\n");
}

/* After a usage error: the whole help would bury the message. */
static void brief_usage(void)
{
    fprintf(stderr, "Run 'fleetsim step --help' for the options.\n");
}

/* Prints "fleetsim step: MESSAGE" to stderr; returns -EINVAL. */
static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fleetsim step: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -EINVAL;
}

/* An integer option in [lo, hi]. */
static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        return bad("--%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
    }
    *out = v;
    return 0;
}

static int push(const char *opt, const char *s, long lo, long *arr, size_t *n)
{
    if (*n == MAX_GROUPS)
        return bad("--%s given more than %d times", opt, MAX_GROUPS);
    return parse_long(opt, s, lo, INT32_MAX, &arr[(*n)++]);
}

static int parse_util(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v > 0 && v <= 1))
        return bad("--gpu-memory-utilization: expected a number in (0, 1], got '%s'", s);
    *out = v;
    return 0;
}

enum { O_ACCEL = 256, O_MODEL, O_TP, O_PREFILL, O_DECODE, O_CONTEXT, O_CATALOG, O_LATENCY,
       O_JSON, O_UTIL, O_BLOCK, O_BATCHED, O_SEQS };

static const struct option long_opts[] = {
    {"accelerator", required_argument, NULL, O_ACCEL},
    {"model", required_argument, NULL, O_MODEL},
    {"tp", required_argument, NULL, O_TP},
    {"prefill", required_argument, NULL, O_PREFILL},
    {"decode", required_argument, NULL, O_DECODE},
    {"context", required_argument, NULL, O_CONTEXT},
    {"catalog", required_argument, NULL, O_CATALOG},
    {"latency", required_argument, NULL, O_LATENCY},
    {"json", no_argument, NULL, O_JSON},
    {"gpu-memory-utilization", required_argument, NULL, O_UTIL},
    {"block-size", required_argument, NULL, O_BLOCK},
    {"max-num-batched-tokens", required_argument, NULL, O_BATCHED},
    {"max-num-seqs", required_argument, NULL, O_SEQS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* One option; 0 or -EINVAL (message printed). */
static int take_opt(step_opts *o, int c, const char *arg)
{
    long v;
    int rc = 0;
    switch (c) {
    case O_ACCEL: o->accel = arg; break;
    case O_MODEL: o->model = arg; break;
    case O_CATALOG: o->catalog = arg; break;
    case O_LATENCY: o->latency = arg; break;
    case O_JSON: o->json = true; break;
    case O_TP:
        if ((rc = parse_long("tp", arg, 1, 4096, &v)) == 0)
            o->tp = (int)v;
        break;
    case O_PREFILL: return push("prefill", arg, 1, o->prefill, &o->n_prefill);
    case O_DECODE: return push("decode", arg, 1, o->decode, &o->n_decode);
    case O_CONTEXT: return push("context", arg, 0, o->context, &o->n_context);
    case O_UTIL: return parse_util(arg, &o->util);
    case O_BLOCK: return parse_long("block-size", arg, 1, 4096, &o->block_size);
    case O_BATCHED: return parse_long("max-num-batched-tokens", arg, 1, 1 << 24, &o->batched_tokens);
    case O_SEQS: return parse_long("max-num-seqs", arg, 1, 1 << 20, &o->max_seqs);
    default: return -EINVAL; /* getopt already said what */
    }
    return rc;
}

/* Checks that the options make a batch and a replica. */
static int check_opts(const step_opts *o)
{
    if (!o->accel || !o->model)
        return bad("give --accelerator and --model");
    if (o->n_prefill == 0 && o->n_decode == 0)
        return bad("give a batch: --prefill N and/or --decode B --context C");
    if (o->n_decode > 0 && o->n_context == 0)
        return bad("--decode needs --context (the tokens each decode already holds)");
    if (o->n_context > o->n_decode)
        return bad("more --context than --decode options");
    return 0;
}

/* 1: --help shown; 0: parsed; -EINVAL: usage error (message printed). */
static int parse_args(int argc, char **argv, step_opts *o)
{
    *o = (step_opts){.tp = 1, .latency = "roofline", .util = 0.9, .block_size = 16,
                     .batched_tokens = 8192, .max_seqs = 256};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
        if (c == 'h')
            return 1;
        if (take_opt(o, c, optarg))
            return -EINVAL;
    }
    if (optind != argc)
        return bad("unexpected argument '%s'", argv[optind]);
    return check_opts(o);
}

/* --- resolving names --- */

static void list_accels(const fm_catalog *cat)
{
    fprintf(stderr, "known accelerators:");
    for (size_t i = 0; i < fm_catalog_n_accels(cat); i++)
        fprintf(stderr, "%s %s", i ? "," : "", fm_catalog_accel_at(cat, i)->name);
    fputc('\n', stderr);
}

static void list_llms(const fm_catalog *cat)
{
    fprintf(stderr, "known models:");
    for (size_t i = 0; i < fm_catalog_n_llms(cat); i++)
        fprintf(stderr, "%s %s", i ? "," : "", fm_catalog_llm_at(cat, i)->name);
    fprintf(stderr, " (or a path to a Hugging Face config.json)\n");
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The LLM named by --model: a config.json path or a catalogue name, into *out. */
static int resolve_llm(const fm_catalog *cat, const char *model, fm_llm *out)
{
    if (ends_with(model, ".json")) {
        char *err = NULL;
        int rc = fm_llm_from_hf_config(model, out, &err);
        if (rc)
            fprintf(stderr, "fleetsim step: %s\n", err ? err : "cannot read config.json");
        free(err);
        return rc;
    }
    const fm_llm *m = fm_catalog_llm(cat, model);
    if (!m) {
        fprintf(stderr, "fleetsim step: unknown model '%s'\n", model);
        list_llms(cat);
        return -EINVAL;
    }
    *out = *m;
    return 0;
}

static int resolve_accel(const fm_catalog *cat, const char *name, fm_accel *out)
{
    const fm_accel *a = fm_catalog_accel(cat, name);
    if (!a) {
        fprintf(stderr, "fleetsim step: unknown accelerator '%s'\n", name);
        list_accels(cat);
        return -EINVAL;
    }
    *out = *a;
    return 0;
}

/* --- the batch and the prediction --- */

/* The batch of the options; *out is malloc'd (caller frees), NULL when out of memory. */
static size_t build_batch(const step_opts *o, fm_seq_work **out)
{
    size_t n = o->n_prefill;
    for (size_t i = 0; i < o->n_decode; i++)
        n += (size_t)o->decode[i];
    fm_seq_work *s = *out = malloc(n * sizeof *s);
    size_t k = 0;
    for (size_t i = 0; s && i < o->n_prefill; i++)
        s[k++] = (fm_seq_work){.new_tokens = (uint32_t)o->prefill[i], .context = 0};
    for (size_t i = 0; s && i < o->n_decode; i++) {
        long ctx = o->context[i < o->n_context ? i : o->n_context - 1];
        for (long j = 0; j < o->decode[i]; j++)
            s[k++] = (fm_seq_work){.new_tokens = 1, .context = (uint32_t)ctx};
    }
    return n;
}

static int predict(const step_opts *o, const fm_accel *a, const fm_llm *m, step_result *r)
{
    fm_seq_work *seqs;
    size_t n = build_batch(o, &seqs);
    if (!seqs)
        return bad("out of memory");
    fm_latency *lat;
    char *err = NULL;
    int rc = fm_latency_new(o->latency, a, m, o->tp, &lat, &err);
    if (rc) {
        bad("%s", err ? err : "cannot build the latency model");
        free(err);
        free(seqs);
        return rc;
    }
    fm_latency_step(lat, seqs, n, &r->bd);
    r->n_seqs = n;
    for (size_t i = 0; i < n; i++) {
        r->new_tokens += seqs[i].new_tokens;
        r->context_tokens += seqs[i].context;
    }
    fm_latency_free(lat);
    free(seqs);
    return 0;
}

/* --- output --- */

/* "1,234,567" into buf. */
static const char *thousands(int64_t v, char *buf, size_t size)
{
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%" PRId64, v < 0 ? -v : v);
    size_t k = 0;
    if (v < 0 && k + 1 < size)
        buf[k++] = '-';
    for (int i = 0; i < len && k + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = '\0';
    return buf;
}

static const char *dominant(const fm_step_breakdown *bd)
{
    double parts[4] = {bd->compute, bd->memory, bd->comm, bd->overhead};
    static const char *const names[4] = {"compute", "memory", "communication", "overhead"};
    size_t best = 0;
    for (size_t i = 1; i < 4; i++)
        if (parts[i] > parts[best])
            best = i;
    return names[best];
}

static double tokens_per_s(const step_result *r) { return r->new_tokens / r->bd.total; }

/* vLLM counts the null block in its log lines: num_gpu_blocks = usable + 1. */
static int64_t vllm_blocks(const fm_kv_sizing *kv) { return kv->num_blocks + 1; }

static double max_concurrency(const step_result *r, long block)
{
    double per_req = ceil((double)r->llm->max_model_len / block);
    return vllm_blocks(&r->kv) / per_req;
}

static void print_step(const step_opts *o, const step_result *r)
{
    const fm_step_breakdown *bd = &r->bd;
    char b1[32], b2[32], b3[32];
    printf("%s on %d x %s (tp %d), latency model %s\n", r->llm->name, o->tp, r->accel->name,
           o->tp, o->latency);
    printf("batch: %s sequence%s, %s new token%s, %s context tokens\n",
           thousands((int64_t)r->n_seqs, b1, sizeof b1), r->n_seqs == 1 ? "" : "s",
           thousands((int64_t)r->new_tokens, b2, sizeof b2), r->new_tokens == 1 ? "" : "s",
           thousands((int64_t)r->context_tokens, b3, sizeof b3));
    printf("step time: %.3f ms (%s new tokens/s)\n", bd->total * 1e3,
           thousands((int64_t)llround(tokens_per_s(r)), b1, sizeof b1));
    printf("  compute        %9.3f ms\n", bd->compute * 1e3);
    printf("  memory         %9.3f ms\n", bd->memory * 1e3);
    printf("  communication  %9.3f ms\n", bd->comm * 1e3);
    printf("  overhead       %9.3f ms\n", bd->overhead * 1e3);
    printf("  FLOPs          %9.3e (whole replica)\n", bd->flops);
    printf("  bytes moved    %9.3e (per accelerator)\n", bd->bytes);
    printf("  bound by       %s\n", dominant(bd));
}

static void print_kv(const step_opts *o, const step_result *r)
{
    const fm_kv_sizing *kv = &r->kv;
    char b1[32], b2[32];
    printf("KV cache (gpu_memory_utilization %g, block_size %ld, max_num_batched_tokens %ld, "
           "max_num_seqs %ld):\n", o->util, o->block_size, o->batched_tokens, o->max_seqs);
    if (r->kv_rc) {
        printf("  does not fit: %s\n", r->kv_err);
        return;
    }
    printf("  Model weights: %.2f GiB per accelerator; activation and runtime reserve: "
           "%.2f GiB\n", kv->weight_bytes / 1073741824.0, kv->activation_bytes / 1073741824.0);
    printf("  Available KV cache memory: %.2f GiB\n", kv->kv_bytes / 1073741824.0);
    printf("  GPU KV cache size: %s tokens\n",
           thousands(vllm_blocks(kv) * o->block_size, b1, sizeof b1));
    printf("  Maximum concurrency for %s tokens per request: %.2fx\n",
           thousands(r->llm->max_model_len, b2, sizeof b2), max_concurrency(r, o->block_size));
}

static json_t *kv_json(const step_opts *o, const step_result *r)
{
    const fm_kv_sizing *kv = &r->kv;
    json_t *j = json_pack("{s:f, s:I, s:I, s:I}", "gpu_memory_utilization", o->util,
                          "block_size", (json_int_t)o->block_size, "max_num_batched_tokens",
                          (json_int_t)o->batched_tokens, "max_num_seqs", (json_int_t)o->max_seqs);
    if (!j || r->kv_rc) {
        json_object_set_new(j, "error", json_string(r->kv_err ? r->kv_err : "?"));
        return j;
    }
    json_t *s = json_pack("{s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:f}",
                          "requested_bytes", kv->requested_bytes, "weight_bytes", kv->weight_bytes,
                          "activation_bytes", kv->activation_bytes, "kv_bytes", kv->kv_bytes,
                          "kv_bytes_per_token", kv->kv_bytes_per_token, "num_blocks",
                          (json_int_t)kv->num_blocks, "num_tokens", (json_int_t)kv->num_tokens,
                          "vllm_kv_cache_tokens", (json_int_t)(vllm_blocks(kv) * o->block_size),
                          "max_concurrency", max_concurrency(r, o->block_size));
    json_object_update(j, s);
    json_decref(s);
    return j;
}

static json_t *step_json(const step_opts *o, const step_result *r)
{
    const fm_step_breakdown *bd = &r->bd;
    return json_pack("{s:s, s:s, s:i, s:s, s:{s:I, s:I, s:I}, s:f, s:{s:f, s:f, s:f, s:f},"
                     " s:f, s:f, s:s, s:f, s:o}",
                     "accelerator", r->accel->name, "model", r->llm->name, "tp", o->tp,
                     "latency_model", o->latency, "batch", "sequences", (json_int_t)r->n_seqs,
                     "new_tokens", (json_int_t)r->new_tokens, "context_tokens",
                     (json_int_t)r->context_tokens,
                     "step_time_s", bd->total, "breakdown_s", "compute", bd->compute, "memory",
                     bd->memory, "communication", bd->comm, "overhead", bd->overhead, "flops",
                     bd->flops, "bytes_per_accelerator", bd->bytes, "bound", dominant(bd),
                     "new_tokens_per_s", tokens_per_s(r), "kv_cache", kv_json(o, r));
}

static int print_json(const step_opts *o, const step_result *r)
{
    json_t *j = step_json(o, r);
    if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) < 0) {
        json_decref(j);
        return bad("out of memory");
    }
    putchar('\n');
    json_decref(j);
    return 0;
}

/* --- the command --- */

static int load_catalog(const step_opts *o, fm_catalog **cat)
{
    char *err = NULL;
    int rc = fm_catalog_load_dir(o->catalog ? o->catalog : fm_default_catalog_dir(), cat, &err);
    if (rc)
        fprintf(stderr, "fleetsim step: %s\n", err ? err : "cannot load the catalogue");
    free(err);
    return rc;
}

static int compute(const step_opts *o, const fm_catalog *cat, step_result *r, fm_accel *a,
                   fm_llm *m)
{
    int rc;
    if ((rc = resolve_accel(cat, o->accel, a)) || (rc = resolve_llm(cat, o->model, m)) ||
        (rc = predict(o, a, m, r)))
        return rc;
    r->accel = a;
    r->llm = m;
    r->kv_rc = fm_kv_size(a, m, o->tp, o->util, (int)o->block_size, (int)o->batched_tokens,
                          (int)o->max_seqs, &r->kv, &r->kv_err);
    return 0;
}

static int run(int argc, char **argv)
{
    step_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc > 0 ? (usage(stdout), FS_EXIT_OK) : (brief_usage(), FS_EXIT_USAGE);
    fm_catalog *cat;
    if (load_catalog(&o, &cat))
        return FS_EXIT_USAGE;
    step_result r = {0};
    fm_accel a;
    fm_llm m;
    rc = compute(&o, cat, &r, &a, &m);
    if (rc == 0 && o.json)
        rc = print_json(&o, &r);
    else if (rc == 0) {
        print_step(&o, &r);
        print_kv(&o, &r);
    }
    if (rc == 0 && r.kv_rc)
        fprintf(stderr, "fleetsim step: %s\n", r.kv_err ? r.kv_err : "the model does not fit");
    free(r.kv_err);
    fm_catalog_free(cat);
    return rc || r.kv_rc ? FS_EXIT_USAGE : FS_EXIT_OK;
}

const fs_cmd fs_cmd_step = {
    .name = "step",
    .summary = "predicted time of one batch (step) on a replica, and its KV capacity",
    .run = run,
};
