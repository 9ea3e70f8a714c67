/*
 * calib_gen.c: writes the synthetic calibration fixtures of tests/data (make
 * tests/calib_gen && tests/calib_gen TOP_SRCDIR/tests/data), so that they can be made
 * again and their truth is on record:
 *
 *   calib-steps.csv            120 steps of Llama-3.1-8B on one A100-80GB, mixed prompt
 *                              chunks and decodes, timed by the scaled form with
 *                              lin_flops 1.7, lin_bytes 1.3, attn_flops 1.5, attn_bytes
 *                              1.6, step_s 3 ms (the rest the roofline's), 1 % noise
 *   calib-bench-requests.jsonl 400 requests at 6/s (inputs 64-1563, outputs 8-257)
 *                              replayed on the same replica (max_num_seqs 128,
 *                              max_num_batched_tokens 2048, 20,000 blocks of 16) with
 *                              lin_flops 1.9, lin_bytes 1.35, attn_bytes 1.6, every step
 *                              jittered 3 % and every measured time 2 %
 *
 * They stand in for real measurements, which the shared data does not have at the
 * step or request level; README.md's validation section says so.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "replayfit.h"

typedef struct jitter {
    fs_scaled_step s;
    gsl_rng *g;
} jitter;

static double jittered(void *ctx, const fm_seq_work *seqs, size_t n)
{
    jitter *j = ctx;
    return fs_scaled_step_fn(&j->s, seqs, n) * exp(gsl_ran_gaussian(j->g, 0.03));
}

static void steps(FILE *f, const fm_scaled_ctx *ctx, fm_scaled_coef k, gsl_rng *g)
{
    fprintf(f, "accelerator,model,tp,batch,step_ms\n");
    for (int i = 0; i < 120; i++) {
        unsigned long pre = gsl_rng_uniform(g) < 0.4 ? 64 + gsl_rng_uniform_int(g, 2000) : 0;
        unsigned long dec = gsl_rng_uniform_int(g, 129), ctxlen = 1 + gsl_rng_uniform_int(g, 4000);
        if (!pre && !dec)
            dec = 1;
        fm_seq_work w[130];
        size_t n = 0;
        if (pre)
            w[n++] = (fm_seq_work){(uint32_t)pre, 0};
        for (unsigned long d = 0; d < dec; d++)
            w[n++] = (fm_seq_work){1, (uint32_t)ctxlen};
        fm_step_terms t;
        fm_scaled_terms(ctx, w, n, &t);
        double ms = fm_scaled_eval(&k, &t, NULL) * 1e3 * exp(gsl_ran_gaussian(g, 0.01));
        fprintf(f, "A100-80GB,llama-3.1-8b,1,");
        if (pre)
            fprintf(f, "1x%lu@0%s", pre, dec ? " " : "");
        if (dec)
            fprintf(f, "%lux1@%lu", dec, ctxlen);
        fprintf(f, ",%.4f\n", ms);
    }
}

static int requests(FILE *f, const fm_scaled_ctx *ctx, fm_scaled_coef k, gsl_rng *g)
{
    enum { N = 400 };
    fs_timed_req r[N];
    double t = 0;
    for (int i = 0; i < N; i++) {
        t += gsl_ran_exponential(g, 1 / 6.0);
        r[i] = (fs_timed_req){.arrival_s = t,
                              .input_tokens = 64 + (uint32_t)gsl_rng_uniform_int(g, 1500),
                              .output_tokens = 8 + (uint32_t)gsl_rng_uniform_int(g, 250)};
    }
    fs_engine_config c;
    fs_engine_config_defaults(&c);
    c.num_blocks = 20000;
    c.max_num_seqs = 128;
    c.max_num_batched_tokens = 2048;
    c.enable_prefix_caching = false;
    jitter j = {{ctx, k}, g};
    fs_replay_result p;
    if (fs_replay(r, N, &c, jittered, &j, &p, NULL) != 0)
        return 1;
    for (int i = 0; i < N; i++) {
        double ttft = p.ttft_s[i] * exp(gsl_ran_gaussian(g, 0.02));
        double e2e = ttft + (p.e2e_s[i] - p.ttft_s[i]) * exp(gsl_ran_gaussian(g, 0.02));
        fprintf(f, "{\"start_time\": %.6f, \"prompt_len\": %u, \"output_len\": %u, "
                   "\"ttft\": %.6f, \"latency\": %.6f}\n", 1000 + r[i].arrival_s,
                r[i].input_tokens, r[i].output_tokens, ttft, e2e);
    }
    fs_replay_result_free(&p);
    return 0;
}

int main(int argc, char **argv)
{
    fm_catalog *cat;
    if (argc != 2 || fm_catalog_load_dir(TOP_SRCDIR "/models/catalog", &cat, NULL) != 0) {
        fprintf(stderr, "usage: calib_gen DIR\n");
        return 2;
    }
    const fm_accel *a = fm_catalog_accel(cat, "A100-80GB");
    fm_scaled_ctx *ctx;
    if (fm_scaled_ctx_new(a, fm_catalog_llm(cat, "llama-3.1-8b"), 1, NULL, &ctx, NULL) != 0)
        return 2;
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, 2026);
    fm_scaled_coef k;
    fm_scaled_roofline_coef(ctx, a, &k);
    k.lin_flops = 1.7, k.lin_bytes = 1.3, k.attn_flops = 1.5, k.attn_bytes = 1.6;
    k.step_s = 3e-3;
    char path[4096];
    snprintf(path, sizeof path, "%s/calib-steps.csv", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f)
        return 2;
    steps(f, ctx, k, g);
    fclose(f);
    fm_scaled_roofline_coef(ctx, a, &k);
    k.lin_flops = 1.9, k.lin_bytes = 1.35, k.attn_bytes = 1.6;
    snprintf(path, sizeof path, "%s/calib-bench-requests.jsonl", argv[1]);
    if (!(f = fopen(path, "w")) || requests(f, ctx, k, g))
        return 2;
    fclose(f);
    gsl_rng_free(g);
    fm_scaled_ctx_free(ctx);
    fm_catalog_free(cat);
    return 0;
}
