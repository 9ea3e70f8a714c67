/*
 * test_latency.c: cmocka tests of the latency-model registry and the roofline model,
 * on catalogue entries (H100-SXM, A100-80GB with Llama-3.1-8B/405B and Qwen3-30B-A3B).
 *
 * Properties rather than golden numbers: monotone in batch and context, decode at
 * batch 1 bound by weight reads (weights / (bandwidth x eff_memory)), long prefill
 * bound by FLOPs, TP 2 halving compute and adding communication, the breakdown
 * summing to the total, and MoE weight reads growing with the experts a batch touches.
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

#include "fm_latency.h"

static fm_catalog *cat;

static int load_catalog(void **state)
{
    char *err = NULL;
    int rc = fm_catalog_load_dir(TOP_SRCDIR "/models/catalog", &cat, &err);
    if (rc)
        fprintf(stderr, "catalogue: %s\n", err);
    free(err);
    return rc;
}

static int free_catalog(void **state)
{
    fm_catalog_free(cat);
    return 0;
}

static const fm_accel *accel(const char *name)
{
    const fm_accel *a = fm_catalog_accel(cat, name);
    assert_non_null(a);
    return a;
}

static const fm_llm *llm(const char *name)
{
    const fm_llm *m = fm_catalog_llm(cat, name);
    assert_non_null(m);
    return m;
}

static fm_latency *model(const fm_accel *a, const fm_llm *m, int tp)
{
    fm_latency *l = NULL;
    char *err = NULL;
    int rc = fm_latency_new("roofline", a, m, tp, &l, &err);
    if (rc)
        fail_msg("fm_latency_new: %s", err);
    return l;
}

/* Step time of `b` decodes at `ctx` context, plus one prefill of `prefill` tokens. */
static double step(fm_latency *l, unsigned b, unsigned ctx, unsigned prefill,
                   fm_step_breakdown *bd)
{
    static fm_seq_work seqs[1025];
    assert_true(b < 1025);
    size_t n = 0;
    for (unsigned i = 0; i < b; i++)
        seqs[n++] = (fm_seq_work){.new_tokens = 1, .context = ctx};
    if (prefill)
        seqs[n++] = (fm_seq_work){.new_tokens = prefill, .context = 0};
    return fm_latency_step(l, seqs, n, bd);
}

static void assert_sums(const fm_step_breakdown *bd, double t)
{
    assert_true(bd->total == t);
    double sum = bd->compute + bd->memory + bd->comm + bd->overhead;
    assert_true(fabs(sum - t) <= 1e-12 * t);
    assert_true(bd->compute >= 0 && bd->memory >= 0 && bd->comm >= 0);
}

static void test_registry(void **state)
{
    assert_ptr_equal(fm_latency_find("roofline"), &fm_roofline_ops);
    assert_ptr_equal(fm_latency_at(0), &fm_roofline_ops);
    assert_ptr_equal(fm_latency_find("fitted"), &fm_fitted_ops);
    assert_ptr_equal(fm_latency_find("profile"), &fm_profile_ops);
    assert_null(fm_latency_at(3));
    assert_null(fm_latency_find("nope"));
    fm_latency *l = (fm_latency *)&l;
    char *err = NULL;
    assert_int_equal(fm_latency_new("nope", accel("H100-SXM"), llm("llama-3.1-8b"), 1, &l, &err),
                     -EINVAL);
    assert_non_null(strstr(err, "known: roofline"));
    free(err);
    assert_int_equal(fm_latency_new("roofline", accel("H100-SXM"), llm("llama-3.1-8b"), 3, &l,
                                    &err), -EINVAL);
    assert_non_null(strstr(err, "attention heads"));
    free(err);
    fm_accel bad = *accel("H100-SXM");
    bad.eff_compute = 0;
    assert_int_equal(fm_latency_new("roofline", &bad, llm("llama-3.1-8b"), 1, &l, &err), -EINVAL);
    free(err);
    assert_ptr_equal(l, (fm_latency *)&l); /* untouched on failure */
    fm_latency_free(NULL);
}

static void test_empty_step(void **state)
{
    fm_latency *l = model(accel("H100-SXM"), llm("llama-3.1-8b"), 2);
    fm_step_breakdown bd;
    double t = fm_latency_step(l, NULL, 0, &bd);
    assert_true(t == accel("H100-SXM")->step_overhead && t > 0);
    assert_true(bd.overhead == t && bd.compute == 0 && bd.memory == 0 && bd.comm == 0);
    assert_true(bd.flops == 0 && bd.bytes == 0);
    assert_sums(&bd, t);
    fm_latency_free(l);
}

static void test_decode_memory_bound(void **state)
{
    const fm_accel *a = accel("H100-SXM");
    const fm_llm *m = llm("llama-3.1-8b");
    fm_latency *l = model(a, m, 1);
    fm_step_breakdown bd;
    double t = step(l, 1, 1024, 0, &bd);
    assert_sums(&bd, t);
    assert_true(bd.compute == 0 && bd.memory > 0 && bd.comm == 0);
    /* weights read once: all but the input embedding (a gather) */
    double w = fm_llm_weight_bytes(m) - 2.0 * m->vocab * m->d_model;
    assert_true(bd.bytes > w && bd.bytes < 1.02 * w);
    double ideal = w / a->mem_bw;
    assert_true(bd.memory > ideal / a->eff_memory * 0.999);
    assert_true(bd.memory < ideal / a->eff_memory * 1.02);
    assert_true(bd.memory > 5e-3 && bd.memory < 6e-3); /* 15 GB / 2.85 TB/s */
    /* 2 x 7.5e9 non-embedding parameters + attention over 1024 + 1 positions */
    double want = fm_llm_linear_flops_per_token(m) + 4.0 * 32 * 32 * 128 * 1025;
    assert_true(fabs(bd.flops - want) < 1e-9 * want);
    assert_true(bd.flops > 15.5e9 && bd.flops < 15.6e9);
    fm_latency_free(l);
}

static void test_prefill_compute_bound(void **state)
{
    const fm_accel *a = accel("H100-SXM");
    const fm_llm *m = llm("llama-3.1-8b");
    fm_latency *l = model(a, m, 1);
    fm_step_breakdown bd;
    double t = step(l, 0, 0, 8192, &bd);
    assert_sums(&bd, t);
    assert_true(bd.compute > 10 * bd.memory);
    double linear = 8192 * (fm_llm_linear_flops_per_token(m) - 2.0 * m->vocab * m->d_model) +
                    2.0 * m->vocab * m->d_model;
    double attn = 4.0 * 32 * 32 * 128 * 8192 * (8193 / 2.0);
    assert_true(fabs(bd.flops - (linear + attn)) < 1e-9 * bd.flops);
    assert_true(fabs(bd.compute - bd.flops / (a->bf16_flops * a->eff_compute)) < 1e-9 * t);
    fm_latency_free(l);
}

static void test_monotone(void **state)
{
    fm_latency *l = model(accel("H100-SXM"), llm("llama-3.1-8b"), 1);
    fm_step_breakdown bd;
    double prev = 0;
    for (unsigned b = 1; b <= 1024; b *= 2) {
        double t = step(l, b, 1024, 0, &bd);
        assert_sums(&bd, t);
        assert_true(t > prev);
        prev = t;
    }
    prev = 0;
    for (unsigned ctx = 0; ctx <= 131072; ctx = ctx ? ctx * 2 : 128) {
        double t = step(l, 32, ctx, 0, &bd);
        assert_true(t > prev);
        prev = t;
    }
    prev = 0;
    for (unsigned p = 1; p <= 32768; p *= 2) {
        double t = step(l, 0, 0, p, &bd);
        assert_true(t >= prev);
        prev = t;
    }
    /* a big decode batch with long context turns attention memory-bound on KV reads */
    step(l, 256, 8192, 0, &bd);
    assert_true(bd.memory > 0.5 * bd.total);
    fm_latency_free(l);
}

static void test_tp2(void **state)
{
    fm_latency *l1 = model(accel("H100-SXM"), llm("llama-3.1-8b"), 1);
    fm_latency *l2 = model(accel("H100-SXM"), llm("llama-3.1-8b"), 2);
    fm_step_breakdown b1, b2;
    double t1 = step(l1, 0, 0, 8192, &b1), t2 = step(l2, 0, 0, 8192, &b2);
    assert_sums(&b2, t2);
    assert_true(fabs(b2.compute - b1.compute / 2) < 1e-12 * b1.compute);
    assert_true(b1.comm == 0 && b2.comm > 0);
    assert_true(fabs(b2.flops - b1.flops) < 1e-9 * b1.flops); /* whole replica */
    assert_true(t2 < t1);
    /* ring all-reduce: 2 per layer of 8192 x 4096 bf16, one round trip of latency */
    const fm_accel *a = accel("H100-SXM");
    double size = 8192.0 * 4096 * 2;
    double want = 2 * 32 * (size / (a->intra_bw * a->eff_comm) + 2 * a->intra_lat);
    assert_true(fabs(b2.comm - want) < 1e-9 * want);
    /* decode: each shard reads half the weights */
    step(l1, 1, 1024, 0, &b1);
    step(l2, 1, 1024, 0, &b2);
    assert_true(fabs(b2.memory - b1.memory / 2) < 1e-9 * b1.memory);
    fm_latency_free(l1);
    fm_latency_free(l2);
}

static void test_tp_across_nodes(void **state)
{
    fm_latency *l8 = model(accel("H100-SXM"), llm("llama-3.1-405b"), 8);
    fm_latency *l16 = model(accel("H100-SXM"), llm("llama-3.1-405b"), 16);
    fm_step_breakdown b8, b16;
    step(l8, 64, 2048, 0, &b8);
    step(l16, 64, 2048, 0, &b16);
    /* 16 > 8 per node: the ring crosses the 50 GB/s scale-out network */
    assert_true(b16.comm > 4 * b8.comm);
    fm_latency_free(l8);
    fm_latency_free(l16);
}

static void test_fp8_peak(void **state)
{
    fm_llm m8 = *llm("llama-3.1-8b");
    m8.weight_bytes_per_param = 1;
    fm_step_breakdown h16, h8, a16, a8;
    fm_latency *l;
    step(l = model(accel("H100-SXM"), llm("llama-3.1-8b"), 1), 0, 0, 1024, &h16);
    fm_latency_free(l);
    step(l = model(accel("H100-SXM"), &m8, 1), 0, 0, 1024, &h8);
    fm_latency_free(l);
    step(l = model(accel("A100-80GB"), llm("llama-3.1-8b"), 1), 0, 0, 1024, &a16);
    fm_latency_free(l);
    step(l = model(accel("A100-80GB"), &m8, 1), 0, 0, 1024, &a8);
    fm_latency_free(l);
    /* H100 has twice the FP8 rate; attention stays bf16 (KV is 2 bytes) */
    assert_true(h8.compute < 0.6 * h16.compute);
    assert_true(fabs(a8.compute - a16.compute) < 1e-12 * a16.compute); /* no FP8 on A100 */
}

static void test_moe_experts_touched(void **state)
{
    const fm_llm *m = llm("qwen3-30b-a3b");
    fm_latency *l = model(accel("H100-SXM"), m, 1);
    fm_step_breakdown b1, b4, b64;
    step(l, 1, 1024, 0, &b1);
    step(l, 4, 1024, 0, &b4);
    step(l, 64, 1024, 0, &b64);
    double w = fm_llm_weight_bytes(m), e = fm_llm_params_expert(m) * 2;
    double kv = 98304.0; /* KV bytes per token */
    /* batch 1: dense parts + 8 experts; batch 4: 32 experts; batch 64: all 128 */
    double emb = 2.0 * m->vocab * m->d_model;
    double dense = w - emb - 128 * e;
    assert_true(fabs(b1.bytes - (dense + 8 * e + 1026 * kv)) < 1e-9 * b1.bytes);
    assert_true(fabs(b4.bytes - (dense + 32 * e + 4 * 1026 * kv)) < 1e-9 * b4.bytes);
    assert_true(fabs(b64.bytes - (w - emb + 64 * 1026 * kv)) < 1e-9 * b64.bytes);
    assert_true(b1.bytes < 0.2 * w);
    fm_latency_free(l);
}

static void test_no_breakdown_pointer(void **state)
{
    fm_latency *l = model(accel("TPU-v6e"), llm("llama-3.1-8b"), 4);
    fm_step_breakdown bd;
    fm_seq_work s[2] = {{.new_tokens = 512, .context = 1024}, {.new_tokens = 1, .context = 9}};
    double t = fm_latency_step(l, s, 2, NULL);
    assert_true(t == fm_latency_step(l, s, 2, &bd));
    assert_sums(&bd, t);
    assert_true(bd.comm > 0);
    fm_latency_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_empty_step),
        cmocka_unit_test(test_decode_memory_bound),
        cmocka_unit_test(test_prefill_compute_bound),
        cmocka_unit_test(test_monotone),
        cmocka_unit_test(test_tp2),
        cmocka_unit_test(test_tp_across_nodes),
        cmocka_unit_test(test_fp8_peak),
        cmocka_unit_test(test_moe_experts_touched),
        cmocka_unit_test(test_no_breakdown_pointer),
    };
    return cmocka_run_group_tests_name("latency", tests, load_catalog, free_catalog);
}
