/*
 * cmd_calibrate.c: `fleetsim calibrate`: fits latency-model coefficients to
 * measurements and writes them as a fit file that scenarios name with
 * latency_params: (models/fm_fit.h has the format and the forms).
 *
 * Inputs, any number of each, processed collectives first (so that the entries fitted
 * after them use the fitted all-reduces): vidur collective profiles, vidur operator
 * profiles, DistServe coefficient files, the project's step-time CSV, and per-request
 * timings of a serving benchmark, which are replayed through the engine
 * (sim/replayfit.h). For every entry it prints the error on the rows it fitted and on
 * the rows it held back (every fifth).
 *
 * Workload: files of thousands of rows; seconds at most, except request replays
 * (a few hundred replays of the whole benchmark).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmd.h"
#include "fm_fit.h"
#include "fm_latency.h"
#include "replayfit.h"

#define MAX_INPUTS 32

typedef struct cal_opts {
    const char *net[MAX_INPUTS], *mlp[MAX_INPUTS], *ds[MAX_INPUTS], *steps[MAX_INPUTS],
        *reqs[MAX_INPUTS];
    size_t nnet, nmlp, nds, nsteps, nreqs;
    const char *accel, *model, *catalog, *output, *start, *free_list;
    int tp;
    fm_fit_form ds_form;
    long batches;
    fs_server_opts server;
    bool json;
} cal_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim calibrate INPUT... [OPTIONS] [-o FITS.yaml]\n\n"
            "Fits latency-model coefficients to measurements and writes a fit file for\n"
            "scenarios (latency_model: fitted|profile, latency_params: FITS.yaml). Prints\n"
            "each fit's error on the rows it used and on every fifth row, held back.\n\n"
            "inputs (each repeatable):\n"
            "  --vidur-network CSV   vidur all_reduce.csv / send_recv.csv: collectives\n"
            "  --vidur-mlp CSV       vidur operator profile (mlp.csv): scaled and profile\n"
            "                        entries for every TP degree in it\n"
            "  --distserve JSON      DistServe profiler coefficients (OPT on A100)\n"
            "  --steps CSV           accelerator,model,tp,batch,step_ms rows; batch as\n"
            "                        COUNTxNEW@CONTEXT groups, e.g. \"1x512@0 32x1@1024\"\n"
            "  --requests FILE       per-request timings (CSV, JSON lines, or a vLLM\n"
            "                        benchmark result with start_times), replayed\n\n"
            "options:\n"
            "  --accelerator NAME    catalogue accelerator (vidur files: from the name)\n"
            "  --model NAME          catalogue LLM (vidur files: from the name)\n"
            "  --tp N                TP degree of --requests (default 1)\n"
            "  --form scaled|distserve   what --distserve writes (default scaled: fitted\n"
            "                        to DistServe's predictions; distserve: imported)\n"
            "  --batches N           synthetic batches per --distserve fit (default 600)\n"
            "  --free LIST           coefficients --steps/--requests fit (default\n"
            "                        step_s,seq_s,lin_flops,lin_bytes,attn_flops,attn_bytes for\n"
            "                        steps; lin_flops,lin_bytes,attn_bytes for requests)\n"
            "  --start FITS.yaml     start --requests from this file's entry (default:\n"
            "                        the roofline's coefficients)\n"
            "  --max-num-seqs N, --max-num-batched-tokens N, --num-gpu-blocks N,\n"
            "  --block-size N, --max-model-len N, --gpu-memory-utilization F,\n"
            "  --no-chunked-prefill  the benchmarked server's settings (--requests)\n"
            "  --catalog DIR         read accelerators and LLMs from DIR\n"
            "  -o, --output FILE     write the fit file here (default: stdout, and the\n"
            "                        report to stderr)\n"
            "  --json                print the report as JSON\n"
            "  -h, --help            show this help\n\n"
            "Exit status: 0 done; 2 bad input or a fit that failed.\n");
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fleetsim calibrate: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return FS_EXIT_USAGE;
}

/* --- options --- */

enum { O_NET = 256, O_MLP, O_DS, O_STEPS, O_REQS, O_ACCEL, O_MODEL, O_TP, O_FORM, O_BATCHES,
       O_FREE, O_START, O_SEQS, O_MBT, O_BLOCKS, O_BLOCK, O_MML, O_UTIL, O_NOCHUNK, O_CATALOG,
       O_JSON };

static const struct option long_opts[] = {
    {"vidur-network", required_argument, NULL, O_NET},
    {"vidur-mlp", required_argument, NULL, O_MLP},
    {"distserve", required_argument, NULL, O_DS},
    {"steps", required_argument, NULL, O_STEPS},
    {"requests", required_argument, NULL, O_REQS},
    {"accelerator", required_argument, NULL, O_ACCEL},
    {"model", required_argument, NULL, O_MODEL},
    {"tp", required_argument, NULL, O_TP},
    {"form", required_argument, NULL, O_FORM},
    {"batches", required_argument, NULL, O_BATCHES},
    {"free", required_argument, NULL, O_FREE},
    {"start", required_argument, NULL, O_START},
    {"max-num-seqs", required_argument, NULL, O_SEQS},
    {"max-num-batched-tokens", required_argument, NULL, O_MBT},
    {"num-gpu-blocks", required_argument, NULL, O_BLOCKS},
    {"block-size", required_argument, NULL, O_BLOCK},
    {"max-model-len", required_argument, NULL, O_MML},
    {"gpu-memory-utilization", required_argument, NULL, O_UTIL},
    {"no-chunked-prefill", no_argument, NULL, O_NOCHUNK},
    {"catalog", required_argument, NULL, O_CATALOG},
    {"output", required_argument, NULL, 'o'},
    {"json", no_argument, NULL, O_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return bad("--%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, s);
    *out = v;
    return 0;
}

static int push(const char **arr, size_t *n, const char *v)
{
    if (*n == MAX_INPUTS)
        return bad("more than %d inputs of one kind", MAX_INPUTS);
    arr[(*n)++] = v;
    return 0;
}

static int server_opt(cal_opts *o, int c, const char *arg)
{
    long v;
    const char *name = c == O_SEQS ? "max-num-seqs" : c == O_MBT ? "max-num-batched-tokens"
                       : c == O_BLOCKS ? "num-gpu-blocks" : c == O_BLOCK ? "block-size"
                                                                         : "max-model-len";
    if (parse_long(name, arg, 1, c == O_BLOCKS ? 1L << 40 : 100000000, &v))
        return FS_EXIT_USAGE;
    if (c == O_SEQS)
        o->server.max_num_seqs = (int)v;
    else if (c == O_MBT)
        o->server.max_num_batched_tokens = (int)v;
    else if (c == O_BLOCKS)
        o->server.num_gpu_blocks = v;
    else if (c == O_BLOCK)
        o->server.block_size = (int)v;
    else
        o->server.max_model_len = (int)v;
    return 0;
}

static int apply_opt(cal_opts *o, int c, const char *arg)
{
    long v;
    char *end;
    switch (c) {
    case O_NET: return push(o->net, &o->nnet, arg);
    case O_MLP: return push(o->mlp, &o->nmlp, arg);
    case O_DS: return push(o->ds, &o->nds, arg);
    case O_STEPS: return push(o->steps, &o->nsteps, arg);
    case O_REQS: return push(o->reqs, &o->nreqs, arg);
    case O_ACCEL: o->accel = arg; return 0;
    case O_MODEL: o->model = arg; return 0;
    case O_TP: return parse_long("tp", arg, 1, 1024, &v) ? FS_EXIT_USAGE : (o->tp = (int)v, 0);
    case O_FORM:
        if (strcmp(arg, "scaled") && strcmp(arg, "distserve"))
            return bad("--form: expected scaled or distserve, got '%s'", arg);
        o->ds_form = strcmp(arg, "scaled") ? FM_FORM_DISTSERVE : FM_FORM_SCALED;
        return 0;
    case O_BATCHES: return parse_long("batches", arg, 20, 1000000, &o->batches);
    case O_FREE: o->free_list = arg; return 0;
    case O_START: o->start = arg; return 0;
    case O_UTIL:
        o->server.gpu_memory_utilization = strtod(arg, &end);
        if (!*arg || *end || !(o->server.gpu_memory_utilization > 0 &&
                               o->server.gpu_memory_utilization <= 1))
            return bad("--gpu-memory-utilization: expected a number in (0, 1], got '%s'", arg);
        return 0;
    case O_NOCHUNK: o->server.no_chunked_prefill = true; return 0;
    case O_CATALOG: o->catalog = arg; return 0;
    case 'o': o->output = arg; return 0;
    case O_JSON: o->json = true; return 0;
    default: return server_opt(o, c, arg);
    }
}

/* --- names from vidur file names --- */

/* "compute__h100__meta-llama__Llama-2-7b-hf__mlp.csv" -> the device, then the model. */
static const char *vidur_accel(const char *path)
{
    const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (strstr(b, "__h100"))
        return "H100-SXM";
    if (strstr(b, "__a100"))
        return "A100-80GB";
    return NULL;
}

static const char *vidur_model(const char *path)
{
    /* Llama-3-8B has Llama-3.1-8B's architecture; only the context window differs. */
    static const char *const map[][2] = {
        {"__Llama-2-7b-hf__", "llama-2-7b"}, {"__Llama-2-70b-hf__", "llama-2-70b"},
        {"__Meta-Llama-3-8B__", "llama-3.1-8b"}, {"__Meta-Llama-3-70B__", "llama-3.1-70b"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (strstr(path, map[i][0]))
            return map[i][1];
    return NULL;
}

/* --- the report --- */

typedef struct report {
    json_t *rows;               /* --json */
    FILE *f;
    bool header;
} report;

static void report_q(report *r, const char *input, const char *what, const fm_fit_quality *q)
{
    const char *b = strrchr(input, '/') ? strrchr(input, '/') + 1 : input;
    if (r->rows) {
        json_array_append_new(r->rows, json_pack(
            "{s:s, s:s, s:I, s:f, s:f, s:I, s:f, s:f, s:f}", "input", b, "entry", what,
            "rows", (json_int_t)q->n_fit, "median_error_pct", q->fit_median_pct, "mape_pct",
            q->fit_mape_pct, "held_out", (json_int_t)q->n_held, "held_median_error_pct",
            q->held_median_pct, "held_mape_pct", q->held_mape_pct, "held_max_error_pct",
            q->held_max_pct));
        return;
    }
    if (!r->header)
        fprintf(r->f, "%-52s %-40s %6s %7s %7s | %6s %7s %7s %7s\n", "input", "entry", "rows",
                "median", "MAPE", "held", "median", "MAPE", "max");
    r->header = true;
    fprintf(r->f, "%-52.52s %-40.40s %6zu %6.2f%% %6.2f%% | %6zu %6.2f%% %6.2f%% %6.1f%%\n", b,
            what, q->n_fit, q->fit_median_pct, q->fit_mape_pct, q->n_held, q->held_median_pct,
            q->held_mape_pct, q->held_max_pct);
}

static void report_entries(report *r, const char *input, const fm_fits *f, size_t from)
{
    static const char *const forms[] = {"scaled", "distserve", "profile"};
    for (size_t i = from; i < f->n; i++) {
        const fm_fit_entry *e = &f->e[i];
        char what[160];
        snprintf(what, sizeof what, "%s %s tp%d %s", e->accel, e->model, e->tp,
                 forms[e->form]);
        fm_fit_quality none = {0};
        report_q(r, input, what, e->has_q ? &e->q : &none);
    }
}

/* --- the inputs --- */

typedef struct run {
    const cal_opts *o;
    const fm_catalog *cat;
    fm_fits *out;
    report rep;
} run;

static const fm_accel *need_accel(run *r, const char *name, const char *input)
{
    const fm_accel *a = name ? fm_catalog_accel(r->cat, name) : NULL;
    if (!a)
        bad("%s: %s", input, name ? "unknown accelerator (see models/catalog)"
                                  : "give --accelerator (not recognised from the file name)");
    return a;
}

static const fm_llm *need_llm(run *r, const char *name, const char *input)
{
    const fm_llm *m = name ? fm_catalog_llm(r->cat, name) : NULL;
    if (!m)
        bad("%s: %s", input, name ? "unknown model (see models/catalog)"
                                  : "give --model (not recognised from the file name)");
    return m;
}

static int fail_with(char *err, int rc)
{
    bad("%s", err ? err : strerror(-rc));
    free(err);
    return FS_EXIT_USAGE;
}

static int do_net(run *r, const char *path)
{
    const fm_accel *a = need_accel(r, r->o->accel ? r->o->accel : vidur_accel(path), path);
    fm_fit_quality q;
    char *err = NULL, what[96];
    if (!a)
        return FS_EXIT_USAGE;
    int rc = fm_calib_vidur_net(path, a->name, r->out, &q, &err);
    if (rc)
        return fail_with(err, rc);
    snprintf(what, sizeof what, "%s collectives", a->name);
    report_q(&r->rep, path, what, &q);
    return 0;
}

static int do_mlp(run *r, const char *path)
{
    const fm_accel *a = need_accel(r, r->o->accel ? r->o->accel : vidur_accel(path), path);
    const fm_llm *m = a ? need_llm(r, r->o->model ? r->o->model : vidur_model(path), path) : NULL;
    char *err = NULL;
    size_t from = r->out->n;
    if (!m)
        return FS_EXIT_USAGE;
    int rc = fm_calib_vidur_mlp(path, a, m, r->out, &err);
    if (rc)
        return fail_with(err, rc);
    report_entries(&r->rep, path, r->out, from);
    return 0;
}

static int do_ds(run *r, const char *path)
{
    const fm_accel *a = need_accel(r, r->o->accel ? r->o->accel : "A100-80GB", path);
    char *err = NULL;
    size_t from = r->out->n, skipped = 0;
    if (!a)
        return FS_EXIT_USAGE;
    int rc = fm_calib_distserve(path, r->cat, a, r->o->ds_form, (size_t)r->o->batches, 1,
                                r->out, &skipped, &err);
    if (rc)
        return fail_with(err, rc);
    if (skipped)
        fprintf(stderr, "fleetsim calibrate: %s: %zu entries skipped (model not in the "
                        "catalogue)\n", path, skipped);
    report_entries(&r->rep, path, r->out, from);
    return 0;
}

static int do_steps(run *r, const char *path)
{
    unsigned mask = FM_FIT_STEP | FM_FIT_SEQ | FM_FIT_LIN_FLOPS | FM_FIT_LIN_BYTES |
                    FM_FIT_ATTN_FLOPS | FM_FIT_ATTN_BYTES;
    char *err = NULL;
    size_t from = r->out->n;
    if (r->o->free_list && fm_scaled_parse_mask(r->o->free_list, &mask, &err))
        return fail_with(err, -EINVAL);
    int rc = fm_calib_steps(path, r->cat, mask, r->out, &err);
    if (rc)
        return fail_with(err, rc);
    report_entries(&r->rep, path, r->out, from);
    return 0;
}

/* The starting coefficients of a request fit: --start's entry, else the roofline's. */
static int request_start(run *r, const fm_accel *a, const fm_llm *m, const fm_scaled_ctx *ctx,
                         fm_scaled_coef *k)
{
    fm_scaled_roofline_coef(ctx, a, k);
    if (!r->o->start)
        return 0;
    fm_fits *f;
    const fm_fit_entry *e;
    char *err = NULL;
    int rc = fm_fits_lookup(r->o->start, 1u << FM_FORM_SCALED, "scaled", a, m, r->o->tp, &f,
                            &e, &err);
    if (rc)
        return fail_with(err, rc);
    *k = e->scaled;
    fm_fits_free(f);
    return 0;
}

static int fit_requests(run *r, const char *path, const fs_timed_req *reqs, size_t n,
                        const fm_accel *a, const fm_llm *m, const fm_scaled_ctx *ctx)
{
    unsigned mask = FM_FIT_LIN_FLOPS | FM_FIT_LIN_BYTES | FM_FIT_ATTN_BYTES;
    char *err = NULL;
    fs_engine_config cfg;
    fm_fit_entry e;
    memset(&e, 0, sizeof e);
    fs_replay_errors q;
    if (r->o->free_list && fm_scaled_parse_mask(r->o->free_list, &mask, &err))
        return fail_with(err, -EINVAL);
    int rc = fs_server_engine_config(a, m, r->o->tp, &r->o->server, &cfg, &err);
    if (rc == 0 && (rc = request_start(r, a, m, ctx, &e.scaled)) != 0)
        return rc;
    if (rc == 0)
        rc = fs_replay_calibrate(reqs, n, &cfg, ctx, mask, &e.scaled, &q, &err);
    if (rc)
        return fail_with(err, rc);
    snprintf(e.accel, sizeof e.accel, "%s", a->name);
    snprintf(e.model, sizeof e.model, "%s", m->name);
    e.tp = r->o->tp;
    e.q = q.tpot;
    e.has_q = true;
    snprintf(e.source, sizeof e.source, "%s: %zu requests replayed, every 5th held out; "
             "held-out TTFT MAPE %.1f %%, TPOT MAPE %.1f %% (fit: below)",
             strrchr(path, '/') ? strrchr(path, '/') + 1 : path, n, q.ttft.held_mape_pct,
             q.tpot.held_mape_pct);
    if (fm_fits_add(r->out, &e))
        return bad("out of memory");
    char what[160];
    snprintf(what, sizeof what, "%s %s tp%d scaled: TTFT", a->name, m->name, e.tp);
    report_q(&r->rep, path, what, &q.ttft);
    snprintf(what, sizeof what, "%s %s tp%d scaled: TPOT", a->name, m->name, e.tp);
    report_q(&r->rep, path, what, &q.tpot);
    return 0;
}

static int do_requests(run *r, const char *path)
{
    const fm_accel *a = need_accel(r, r->o->accel, path);
    const fm_llm *m = a ? need_llm(r, r->o->model, path) : NULL;
    fs_timed_req *reqs;
    size_t n;
    char *err = NULL;
    fm_scaled_ctx *ctx = NULL;
    if (!m)
        return FS_EXIT_USAGE;
    int rc = fs_timings_read(path, &reqs, &n, &err);
    if (rc)
        return fail_with(err, rc);
    rc = fm_scaled_ctx_new(a, m, r->o->tp, fm_fits_coll(r->out, a->name), &ctx, &err);
    rc = rc ? fail_with(err, rc) : fit_requests(r, path, reqs, n, a, m, ctx);
    fm_scaled_ctx_free(ctx);
    free(reqs);
    return rc;
}

static int do_all(run *r)
{
    const cal_opts *o = r->o;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < o->nnet; i++)
        rc = do_net(r, o->net[i]);
    for (size_t i = 0; rc == 0 && i < o->nmlp; i++)
        rc = do_mlp(r, o->mlp[i]);
    for (size_t i = 0; rc == 0 && i < o->nds; i++)
        rc = do_ds(r, o->ds[i]);
    for (size_t i = 0; rc == 0 && i < o->nsteps; i++)
        rc = do_steps(r, o->steps[i]);
    for (size_t i = 0; rc == 0 && i < o->nreqs; i++)
        rc = do_requests(r, o->reqs[i]);
    return rc;
}

/* The fit file's header: what made it, so that it can be made again. */
static char *provenance(int argc, char **argv)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    if (!m)
        return NULL;
    fprintf(m, "fleetsim fit file, written by:\n fleetsim");
    for (int i = 0; i < argc; i++)
        fprintf(m, " %s", argv[i]);
    fprintf(m, "\nformat: models/fits/README.md; errors on held-out rows in each fit:");
    fclose(m);
    return s;
}

static int write_out(const run *r, int argc, char **argv)
{
    FILE *f = r->o->output ? fopen(r->o->output, "w") : stdout;
    if (!f)
        return bad("%s: cannot write: %s", r->o->output, strerror(errno));
    char *comment = provenance(argc, argv);
    int rc = fm_fits_write(r->out, f, comment);
    free(comment);
    if (r->o->output && fclose(f) != 0)
        rc = -EIO;
    return rc ? bad("%s: write failed", r->o->output ? r->o->output : "stdout") : 0;
}

static int calibrate(int argc, char **argv)
{
    cal_opts o = {.tp = 1, .ds_form = FM_FORM_SCALED, .batches = 600};
    int c, rc;
    while ((c = getopt_long(argc, argv, "ho:", long_opts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        if (c == '?' || apply_opt(&o, c, optarg))
            return fprintf(stderr, "Run 'fleetsim calibrate --help' for the options.\n"),
                   FS_EXIT_USAGE;
    }
    if (optind != argc || o.nnet + o.nmlp + o.nds + o.nsteps + o.nreqs == 0)
        return bad("give at least one input (--vidur-mlp, --vidur-network, --distserve, "
                   "--steps, --requests) and no other arguments");
    fm_catalog *cat = NULL;
    char *err = NULL;
    if ((rc = fm_catalog_load_dir(o.catalog ? o.catalog : fm_default_catalog_dir(), &cat, &err)))
        return fail_with(err, rc);
    run r = {.o = &o, .cat = cat, .out = fm_fits_new(),
             .rep = {.rows = o.json ? json_array() : NULL, .f = o.output ? stdout : stderr}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = r.out ? do_all(&r) : bad("out of memory");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc == 0)
        rc = write_out(&r, argc, argv);
    if (rc == 0 && r.rep.rows) {
        json_t *o2 = json_pack("{s:O, s:f}", "fits", r.rep.rows, "seconds", secs);
        json_dumpf(o2, r.rep.f, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
        fputc('\n', r.rep.f);
        json_decref(o2);
    } else if (rc == 0)
        fprintf(r.rep.f, "fitted %zu entries and %zu collective sets in %.2f s\n", r.out->n,
                r.out->ncoll, secs);
    json_decref(r.rep.rows);
    fm_fits_free(r.out);
    fm_catalog_free(cat);
    return rc;
}

const fs_cmd fs_cmd_calibrate = {"calibrate", "fit latency coefficients to measurements",
                                 calibrate};
