/*
 * test_models.c: cmocka tests of libfleetmodels' data side: the bundled catalogue,
 * derived quantities against hand-computed values, KV sizing, YAML overrides and
 * their errors, catalogue directories (order, duplicates), and Hugging Face
 * config.json fixtures in tests/data.
 *
 * Hand values: Llama-3.1-8B has 8.03e9 parameters and 2 x 32 layers x 8 KV heads x
 * 128 x 2 bytes = 131072 KV bytes per token; Mixtral-8x7B 46.7e9 total / 12.9e9
 * active; Qwen3-30B-A3B 30.5e9 / 3.3e9 (model cards).
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
#include <sys/stat.h>
#include <unistd.h>

#include "fm_models.h"

#define CATALOG TOP_SRCDIR "/models/catalog"
#define FIXTURE(name) TOP_SRCDIR "/tests/data/" name

static fm_catalog *cat;

static int load_catalog(void **state)
{
    char *err = NULL;
    int rc = fm_catalog_load_dir(CATALOG, &cat, &err);
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

static const fm_llm *llm(const char *name)
{
    const fm_llm *m = fm_catalog_llm(cat, name);
    assert_non_null(m);
    return m;
}

static const fm_accel *accel(const char *name)
{
    const fm_accel *a = fm_catalog_accel(cat, name);
    assert_non_null(a);
    return a;
}

/* |got - want| <= tol x |want| */
static void assert_near(double got, double want, double tol)
{
    if (fabs(got - want) > tol * fabs(want))
        fail_msg("got %.6g, want %.6g (+- %g%%)", got, want, tol * 100);
}

/* Field by field (struct padding makes memcmp unreliable); names too when `names`. */
static void assert_llm_equal(const fm_llm *x, const fm_llm *y, bool names)
{
    if (names)
        assert_string_equal(x->name, y->name);
    assert_int_equal(x->n_layers, y->n_layers);
    assert_int_equal(x->d_model, y->d_model);
    assert_int_equal(x->n_heads, y->n_heads);
    assert_int_equal(x->n_kv_heads, y->n_kv_heads);
    assert_int_equal(x->head_dim, y->head_dim);
    assert_int_equal(x->d_ff, y->d_ff);
    assert_int_equal(x->vocab, y->vocab);
    assert_int_equal(x->n_experts, y->n_experts);
    assert_int_equal(x->n_experts_active, y->n_experts_active);
    assert_int_equal(x->gated_mlp, y->gated_mlp);
    assert_int_equal(x->tied_embeddings, y->tied_embeddings);
    assert_true(x->weight_bytes_per_param == y->weight_bytes_per_param);
    assert_true(x->kv_bytes_per_elem == y->kv_bytes_per_elem);
    assert_int_equal(x->max_model_len, y->max_model_len);
}

static void assert_accel_equal(const fm_accel *x, const fm_accel *y)
{
    assert_string_equal(x->name, y->name);
    assert_string_equal(x->price_source, y->price_source);
    assert_true(x->bf16_flops == y->bf16_flops && x->fp8_flops == y->fp8_flops);
    assert_true(x->mem_bytes == y->mem_bytes && x->mem_bw == y->mem_bw);
    assert_true(x->intra_bw == y->intra_bw && x->intra_lat == y->intra_lat);
    assert_true(x->eff_compute == y->eff_compute && x->price_per_hour == y->price_per_hour);
    assert_int_equal(x->accels_per_node, y->accels_per_node);
}

/* ---------------------------------------------------------------- catalogue */

static void test_required_entries(void **state)
{
    static const char *const accels[] = {"A100-80GB", "H100-SXM", "H200", "B200", "L40S",
                                         "MI300X", "TPU-v5e", "TPU-v6e", "Inferentia2",
                                         "Trainium2", "Gaudi3"};
    static const char *const llms[] = {"llama-2-7b", "llama-2-70b", "llama-3.1-8b",
                                       "llama-3.1-70b", "llama-3.1-405b", "qwen3-32b",
                                       "qwen3-30b-a3b", "mixtral-8x7b", "gpt-oss-120b"};
    for (size_t i = 0; i < sizeof accels / sizeof *accels; i++)
        assert_string_equal(accel(accels[i])->name, accels[i]);
    for (size_t i = 0; i < sizeof llms / sizeof *llms; i++)
        assert_string_equal(llm(llms[i])->name, llms[i]);
    assert_ptr_equal(fm_catalog_accel(cat, "h100-sxm"), accel("H100-SXM"));
    assert_null(fm_catalog_accel(cat, "H100"));
    assert_null(fm_catalog_llm(cat, "llama-9"));
    assert_null(fm_catalog_accel_at(cat, fm_catalog_n_accels(cat)));
}

static void test_entries_valid(void **state)
{
    for (size_t i = 0; i < fm_catalog_n_accels(cat); i++) {
        const fm_accel *a = fm_catalog_accel_at(cat, i);
        assert_int_equal(fm_accel_validate(a, NULL), 0);
        assert_true(a->price_per_hour > 0 && a->price_source[0] && a->tdp_w > 0);
    }
    for (size_t i = 0; i < fm_catalog_n_llms(cat); i++)
        assert_int_equal(fm_llm_validate(fm_catalog_llm_at(cat, i), NULL), 0);
}

static void test_units_converted(void **state)
{
    const fm_accel *h = accel("H100-SXM");
    assert_near(h->bf16_flops, 989e12, 1e-12);
    assert_near(h->fp8_flops, 1979e12, 1e-12);
    assert_near(h->mem_bw, 3.35e12, 1e-12);
    assert_near(h->intra_bw, 450e9, 1e-12);
    assert_near(h->scaleout_bw, 400e9 / 8, 1e-12);
    assert_near(h->intra_lat, 1e-6, 1e-12);
    assert_near(h->step_overhead, 1.5e-3, 1e-12);
    assert_true(h->mem_bytes > 80e9 && h->mem_bytes < 86e9);
    assert_int_equal(h->accels_per_node, 8);
    assert_int_equal((int)accel("A100-80GB")->fp8_flops, 0);
}

/* ---------------------------------------------------------------- derived quantities */

static void test_llama_8b(void **state)
{
    const fm_llm *m = llm("llama-3.1-8b");
    assert_near(fm_llm_params_total(m), 8.03e9, 0.005);
    assert_true(fm_llm_params_active(m) == fm_llm_params_total(m));
    assert_near(fm_llm_weight_bytes(m), 2 * 8.03e9, 0.005);
    assert_true(fm_llm_kv_bytes_per_token(m, 1) == 131072);
    assert_true(fm_llm_kv_bytes_per_token(m, 2) == 65536);
    assert_true(fm_llm_kv_bytes_per_token(m, 8) == 16384);
    /* 8 KV heads over 16 shards: replicated, one head each, as in vLLM */
    assert_true(fm_llm_kv_bytes_per_token(m, 16) == 16384);
    /* 2 x (8.03e9 - 0.525e9 input embedding): the LM head stays, the gather goes */
    assert_near(fm_llm_linear_flops_per_token(m), 2 * (8.030e9 - 128256.0 * 4096), 0.001);
    assert_near(fm_llm_params_expert(m), 3.0 * 4096 * 14336 * 32, 1e-12);
}

static void test_big_dense(void **state)
{
    assert_true(fm_llm_kv_bytes_per_token(llm("llama-3.1-70b"), 1) == 327680);
    assert_near(fm_llm_params_total(llm("llama-3.1-70b")), 70.55e9, 0.01);
    assert_near(fm_llm_params_total(llm("llama-3.1-405b")), 405.8e9, 0.01);
    assert_near(fm_llm_params_total(llm("llama-2-7b")), 6.74e9, 0.01);
    assert_near(fm_llm_params_total(llm("llama-2-70b")), 68.98e9, 0.01);
    assert_near(fm_llm_params_total(llm("qwen3-32b")), 32.8e9, 0.01);
    assert_true(fm_llm_kv_bytes_per_token(llm("llama-2-7b"), 1) == 524288);
}

static void test_moe(void **state)
{
    const fm_llm *mx = llm("mixtral-8x7b"), *q = llm("qwen3-30b-a3b"), *g = llm("gpt-oss-120b");
    assert_near(fm_llm_params_total(mx), 46.7e9, 0.01);
    assert_near(fm_llm_params_active(mx), 12.9e9, 0.01);
    assert_near(fm_llm_params_total(q), 30.5e9, 0.01);
    assert_near(fm_llm_params_active(q), 3.3e9, 0.03);
    assert_near(fm_llm_params_total(g), 116.8e9, 0.01);
    /* 4 KV heads over 8 shards: one each */
    assert_true(fm_llm_kv_bytes_per_token(q, 8) == 2.0 * 48 * 1 * 128 * 2);
    /* FLOPs follow active parameters, not total */
    assert_true(fm_llm_linear_flops_per_token(mx) < 2 * fm_llm_params_active(mx));
    assert_true(fm_llm_linear_flops_per_token(mx) > 2 * 12e9);
}

static void test_tied_embeddings(void **state)
{
    fm_llm m = *llm("llama-3.1-8b");
    double untied = fm_llm_params_total(&m), flops = fm_llm_linear_flops_per_token(&m);
    m.tied_embeddings = true;
    assert_near(untied - fm_llm_params_total(&m), 128256.0 * 4096, 1e-9);
    /* the shared matrix is still multiplied once, as the LM head */
    assert_near(fm_llm_linear_flops_per_token(&m), flops, 1e-12);
}

static void test_validate(void **state)
{
    char *err = NULL;
    fm_llm m = *llm("llama-3.1-8b");
    m.n_kv_heads = 5;
    assert_int_equal(fm_llm_validate(&m, &err), -EINVAL);
    assert_non_null(strstr(err, "llama-3.1-8b"));
    assert_non_null(strstr(err, "kv_heads"));
    free(err);
    m = *llm("mixtral-8x7b");
    m.n_experts_active = 9;
    assert_int_equal(fm_llm_validate(&m, NULL), -EINVAL);
    fm_accel a = *accel("H100-SXM");
    a.eff_memory = 0;
    assert_int_equal(fm_accel_validate(&a, NULL), -EINVAL);
    a = *accel("H100-SXM");
    a.idle_w = a.tdp_w + 1;
    assert_int_equal(fm_accel_validate(&a, &err), -EINVAL);
    assert_non_null(strstr(err, "H100-SXM"));
    free(err);
    assert_int_equal(fm_llm_check_tp(llm("llama-3.1-8b"), 3, &err), -EINVAL);
    assert_non_null(strstr(err, "32 attention heads"));
    free(err);
    assert_int_equal(fm_llm_check_tp(llm("llama-3.1-8b"), 8, NULL), 0);
}

/* ---------------------------------------------------------------- KV sizing */

static void test_kv_8b_h100(void **state)
{
    fm_kv_sizing s;
    char *err = NULL;
    assert_int_equal(fm_kv_size(accel("H100-SXM"), llm("llama-3.1-8b"), 1, 0.9, 16, 8192, 256,
                                &s, &err), 0);
    assert_null(err);
    assert_near(s.requested_bytes, 0.9 * accel("H100-SXM")->mem_bytes, 1e-9);
    assert_near(s.weight_bytes, 16.06e9, 0.005);
    assert_true(s.activation_bytes > 1e9 && s.activation_bytes < 4e9);
    assert_true(s.kv_bytes > 50e9 && s.kv_bytes < 60e9);
    assert_true(s.kv_bytes_per_token == 131072);
    assert_true(s.num_tokens > 400000 && s.num_tokens < 470000);
    assert_true(s.num_tokens == s.num_blocks * 16);
    /* whole blocks, the null block left out */
    assert_true((s.num_blocks + 1) * 16 * 131072.0 <= s.kv_bytes);
    assert_true((s.num_blocks + 2) * 16 * 131072.0 > s.kv_bytes);
}

static void test_kv_monotone(void **state)
{
    const fm_accel *h = accel("H100-SXM");
    const fm_llm *m = llm("llama-3.1-8b");
    fm_kv_sizing a, b, c, d;
    assert_int_equal(fm_kv_size(h, m, 1, 0.9, 16, 8192, 256, &a, NULL), 0);
    assert_int_equal(fm_kv_size(h, m, 1, 0.95, 16, 8192, 256, &b, NULL), 0);
    assert_int_equal(fm_kv_size(h, m, 1, 0.9, 16, 32768, 256, &c, NULL), 0);
    assert_int_equal(fm_kv_size(h, m, 2, 0.9, 16, 8192, 256, &d, NULL), 0);
    assert_true(b.num_blocks > a.num_blocks);
    assert_true(c.num_blocks < a.num_blocks);
    assert_true(c.activation_bytes > a.activation_bytes);
    /* TP 2 halves weights and KV per token: more than twice the tokens per shard */
    assert_true(d.num_tokens > 2 * a.num_tokens);
}

static void test_kv_70b_does_not_fit(void **state)
{
    fm_kv_sizing s = {.num_blocks = -42};
    char *err = NULL;
    assert_int_equal(fm_kv_size(accel("H100-SXM"), llm("llama-3.1-70b"), 1, 0.9, 16, 8192, 256,
                                &s, &err),
                     -EINVAL);
    assert_non_null(err);
    assert_non_null(strstr(err, "llama-3.1-70b needs 141 GB of weights"));
    assert_non_null(strstr(err, "1 x H100-SXM offers 77 GB"));
    assert_non_null(strstr(err, "raise tp"));
    assert_true(s.num_blocks == -42); /* no side effect */
    free(err);
    assert_int_equal(fm_kv_size(accel("H100-SXM"), llm("llama-3.1-70b"), 2, 0.9, 16, 8192, 256,
                                &s, NULL), 0);
    /* 70.6 GB of weights per shard leave ~3 GB: tens of thousands of tokens, as in vLLM */
    assert_true(s.num_tokens > 10000 && s.num_tokens < 40000);
    /* weights fit but the reserve does not: a different message */
    assert_int_equal(fm_kv_size(accel("H100-SXM"), llm("llama-3.1-70b"), 2, 0.9, 16, 1 << 20,
                                256, &s, &err), -EINVAL);
    assert_non_null(strstr(err, "activation"));
    free(err);
    assert_int_equal(fm_kv_size(accel("H100-SXM"), llm("llama-3.1-8b"), 3, 0.9, 16, 8192, 256,
                                &s, &err), -EINVAL);
    free(err);
}

/* ---------------------------------------------------------------- YAML */

/* Applies `text` (a YAML mapping) to *a or *m; returns rc, error in *err. */
static int apply_yaml(const char *text, fm_accel *a, fm_llm *m, char **err)
{
    fu_yaml *doc;
    int rc = fu_yaml_load_string("override.yaml", text, strlen(text), &doc, err);
    if (rc)
        return rc;
    rc = a ? fm_accel_from_yaml(fu_yaml_root(doc), a, err)
           : fm_llm_from_yaml(fu_yaml_root(doc), m, err);
    fu_yaml_free(doc);
    return rc;
}

static void test_yaml_override(void **state)
{
    fm_accel a = *accel("H100-SXM");
    char *err = NULL;
    assert_int_equal(apply_yaml("price_per_hour: 1.5\nmemory_gb: 100\nbase: H100-SXM\n"
                                "price_source: my price book\n", &a, NULL, &err), 0);
    assert_near(a.price_per_hour, 1.5, 1e-12);
    assert_near(a.mem_bytes, 100e9, 1e-12);
    assert_string_equal(a.price_source, "my price book");
    assert_near(a.mem_bw, accel("H100-SXM")->mem_bw, 1e-12);
    assert_string_equal(a.name, "H100-SXM");
    fm_llm m = *llm("llama-3.1-70b");
    assert_int_equal(apply_yaml("weight_bytes: 1\nkv_bytes: 1\nname: l70-fp8\n", NULL, &m, &err),
                     0);
    assert_string_equal(m.name, "l70-fp8");
    assert_near(fm_llm_weight_bytes(&m), fm_llm_weight_bytes(llm("llama-3.1-70b")) / 2, 1e-12);
    assert_true(fm_llm_kv_bytes_per_token(&m, 1) == 163840);
}

static void test_yaml_defaults(void **state)
{
    fm_llm m = {0};
    assert_int_equal(apply_yaml("layers: 2\nhidden_size: 64\nheads: 4\nintermediate_size: 128\n"
                                "vocab_size: 100\nmax_model_len: 256\n", NULL, &m, NULL), 0);
    assert_int_equal(m.n_kv_heads, 4);
    assert_int_equal(m.head_dim, 16);
    assert_true(m.weight_bytes_per_param == 2 && m.kv_bytes_per_elem == 2);
    assert_int_equal(fm_llm_validate(&m, NULL), 0);
}

/* Expects `text` to be rejected with a message that contains each of `want`. */
static void expect_reject(const char *text, bool is_accel, const char *want1, const char *want2)
{
    fm_accel a = *accel("H100-SXM");
    fm_llm m = *llm("llama-3.1-8b");
    char *err = NULL;
    assert_int_equal(apply_yaml(text, is_accel ? &a : NULL, is_accel ? NULL : &m, &err), -EINVAL);
    assert_non_null(err);
    if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
        fail_msg("message '%s' lacks '%s' / '%s'", err, want1, want2 ? want2 : "");
    free(err);
    /* nothing applied */
    assert_accel_equal(&a, accel("H100-SXM"));
    assert_llm_equal(&m, llm("llama-3.1-8b"), true);
}

static void test_yaml_errors(void **state)
{
    expect_reject("memory_gb: 80\nbogus: 3\n", true, "override.yaml:2:1:", "unknown key 'bogus'");
    expect_reject("memory_gb: 80\nbogus: 3\n", true, "eff_compute", NULL); /* lists keys */
    expect_reject("price_per_hour: 2\nmemory_gb: lots\n", true, "override.yaml:2:12:", "number");
    expect_reject("memory_gb: -80\n", true, "override.yaml:1:12:", "-80");
    expect_reject("eff_compute: 1.5\n", true, "override.yaml:1:14:", NULL);
    expect_reject("memory_gb: [1, 2]\n", true, "override.yaml:1:12:", "sequence");
    expect_reject("layers: -3\n", false, "override.yaml:1:9:", "integer");
    expect_reject("layers: 3.5\n", false, "override.yaml:1:9:", NULL);
    expect_reject("gated_mlp: maybe\n", false, "override.yaml:1:12:", "true or false");
    expect_reject("heads: 32\nexperts: -1\n", false, "override.yaml:2:10:", NULL);
    expect_reject("- layers: 3\n", false, "override.yaml:1:1:", "mapping");
}

/* ---------------------------------------------------------------- catalogue dirs */

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    unlink(path);
}

static int make_tmpdir(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fm-test-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    static const char *const names[] = {"a.yaml", "b.yaml", "c.txt", NULL};
    for (size_t i = 0; names[i]; i++)
        remove_file(names[i]);
    return rmdir(tmpdir);
}

#define TINY_ACCEL                                                                          \
    "    bf16_tflops: 100\n    memory_gb: 16\n    memory_tbps: 1\n    intra_node_gbps: 50\n"  \
    "    accels_per_node: 4\n    scaleout_gbit: 100\n    tdp_w: 300\n    eff_compute: 0.5\n" \
    "    eff_memory: 0.5\n    eff_comm: 0.5\n"

/* Loads tmpdir; returns rc and leaves the message in *err. */
static int load_tmp(fm_catalog **c, char **err)
{
    *c = NULL;
    *err = NULL;
    return fm_catalog_load_dir(tmpdir, c, err);
}

static void test_dir_order_and_merge(void **state)
{
    write_file("b.yaml", "accelerators:\n  Zeta:\n" TINY_ACCEL);
    write_file("a.yaml", "llms: {}\naccelerators:\n  Alpha:\n" TINY_ACCEL);
    write_file("c.txt", "not yaml: [");
    fm_catalog *c;
    char *err;
    assert_int_equal(load_tmp(&c, &err), 0);
    assert_int_equal(fm_catalog_n_accels(c), 2);
    assert_string_equal(fm_catalog_accel_at(c, 0)->name, "Alpha"); /* a.yaml first */
    assert_string_equal(fm_catalog_accel_at(c, 1)->name, "Zeta");
    assert_near(fm_catalog_accel(c, "zeta")->mem_bytes, 16e9, 1e-12);
    assert_int_equal(fm_catalog_n_llms(c), 0);
    fm_catalog_free(c);
    /* a price book on top of an entry from an earlier file */
    write_file("b.yaml", "accelerators:\n  Alpha-spot:\n    base: alpha\n"
                         "    price_per_hour: 0.5\n    price_source: spot, today\n");
    assert_int_equal(load_tmp(&c, &err), 0);
    const fm_accel *spot = fm_catalog_accel(c, "alpha-spot");
    assert_non_null(spot);
    assert_string_equal(spot->name, "Alpha-spot");
    assert_near(spot->price_per_hour, 0.5, 1e-12);
    assert_near(spot->mem_bytes, 16e9, 1e-12);
    fm_catalog_free(c);
}

static void test_dir_errors(void **state)
{
    fm_catalog *c;
    char *err;
    write_file("a.yaml", "accelerators:\n  Alpha:\n" TINY_ACCEL);
    write_file("b.yaml", "accelerators:\n  ALPHA:\n" TINY_ACCEL);
    assert_int_equal(load_tmp(&c, &err), -EINVAL);
    assert_null(c);
    assert_non_null(strstr(err, "b.yaml:2:3: duplicate accelerator 'ALPHA'"));
    assert_non_null(strstr(err, "a.yaml:2:3"));
    free(err);
    write_file("b.yaml", "gpus:\n  X: {}\n");
    assert_int_equal(load_tmp(&c, &err), -EINVAL);
    assert_non_null(strstr(err, "b.yaml:1:1:"));
    free(err);
    write_file("b.yaml", "accelerators:\n  Beta:\n" TINY_ACCEL "    tdp: 3\n");
    assert_int_equal(load_tmp(&c, &err), -EINVAL);
    assert_non_null(strstr(err, "b.yaml:13:5: unknown key 'tdp'"));
    free(err);
    write_file("b.yaml", "accelerators:\n  Beta:\n" TINY_ACCEL "    name: Gamma\n");
    assert_int_equal(load_tmp(&c, &err), -EINVAL);
    assert_non_null(strstr(err, "b.yaml:13:"));
    free(err);
    /* fields are fine one by one, the entry is not: positioned at the entry */
    write_file("b.yaml", "llms:\n  tiny:\n    layers: 2\n    hidden_size: 64\n    heads: 4\n"
                         "    kv_heads: 3\n    intermediate_size: 1\n    vocab_size: 9\n"
                         "    max_model_len: 9\n");
    assert_int_equal(load_tmp(&c, &err), -EINVAL);
    assert_non_null(strstr(err, "b.yaml:3:5:"));
    assert_non_null(strstr(err, "kv_heads"));
    free(err);
    write_file("b.yaml", "accelerators:\n  Beta:\n    base: Zeta\n");
    assert_int_equal(load_tmp(&c, &err), -EINVAL);
    assert_non_null(strstr(err, "b.yaml:3:11: unknown base accelerator 'Zeta'"));
    free(err);
    write_file("b.yaml", "llms:\n  x:\n    hf_config: x.json\n");
    assert_int_equal(load_tmp(&c, &err), -EINVAL);
    assert_non_null(strstr(err, "b.yaml:3:16:"));
    free(err);
    write_file("b.yaml", "accelerators: [1]\n");
    assert_int_equal(load_tmp(&c, &err), -EINVAL);
    assert_non_null(strstr(err, "b.yaml:1:15:"));
    free(err);
    assert_int_equal(fm_catalog_load_dir("/nonexistent/catalog", &c, &err), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/catalog"));
    free(err);
}

static void test_default_dir(void **state)
{
    char *old = getenv("FLEETSIM_DATADIR") ? strdup(getenv("FLEETSIM_DATADIR")) : NULL;
    setenv("FLEETSIM_DATADIR", "/opt/fs", 1);
    assert_string_equal(fm_default_catalog_dir(), "/opt/fs/catalog");
    unsetenv("FLEETSIM_DATADIR");
    const char *d = fm_default_catalog_dir();
    struct stat st;
    assert_int_equal(stat(d, &st), 0); /* installed, or the source tree's */
    assert_true(S_ISDIR(st.st_mode));
    if (old) {
        setenv("FLEETSIM_DATADIR", old, 1);
        free(old);
    }
}

/* ---------------------------------------------------------------- HF config.json */

static void test_hf_llama(void **state)
{
    fm_llm m;
    char *err = NULL;
    assert_int_equal(fm_llm_from_hf_config(FIXTURE("hf-llama.json"), &m, &err), 0);
    assert_string_equal(m.name, "Llama-3.1-8B-Instruct");
    assert_llm_equal(&m, llm("llama-3.1-8b"), false);
}

static void test_hf_moe(void **state)
{
    fm_llm m;
    assert_int_equal(fm_llm_from_hf_config(FIXTURE("hf-moe.json"), &m, NULL), 0);
    assert_string_equal(m.name, "hf-moe"); /* no _name_or_path, not config.json */
    assert_int_equal(m.n_experts, 128);
    assert_int_equal(m.n_experts_active, 8);
    assert_int_equal(m.d_ff, 768); /* moe_intermediate_size, not intermediate_size */
    assert_int_equal(m.n_kv_heads, 4);
    assert_int_equal(m.head_dim, 128);
    assert_true(m.gated_mlp && !m.tied_embeddings);
    assert_near(fm_llm_params_total(&m), fm_llm_params_total(llm("qwen3-30b-a3b")), 1e-12);
    assert_near(fm_llm_params_active(&m), 3.3e9, 0.03);
}

static void test_hf_defaults_and_quant(void **state)
{
    fm_llm m;
    assert_int_equal(fm_llm_from_hf_config(FIXTURE("hf-opt-fp8.json"), &m, NULL), 0);
    assert_string_equal(m.name, "hf-opt-fp8");
    assert_int_equal(m.n_kv_heads, 12);   /* absent: = heads */
    assert_int_equal(m.head_dim, 64);     /* null: hidden / heads */
    assert_false(m.gated_mlp);            /* relu */
    assert_true(m.tied_embeddings);
    assert_true(m.weight_bytes_per_param == 1 && m.kv_bytes_per_elem == 2);
    assert_int_equal(m.n_experts, 0);
}

static void test_hf_name_from_dir(void **state)
{
    char dir[128], path[160], cmd[512];
    snprintf(dir, sizeof dir, "%s/My-Model", tmpdir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", FIXTURE("hf-moe.json"), path);
    assert_int_equal(system(cmd), 0);
    fm_llm m;
    int rc = fm_llm_from_hf_config(path, &m, NULL);
    unlink(path);
    rmdir(dir);
    assert_int_equal(rc, 0);
    assert_string_equal(m.name, "My-Model");
}

static void test_hf_errors(void **state)
{
    fm_llm m = {.n_layers = -7};
    char *err = NULL;
    assert_int_equal(fm_llm_from_hf_config(FIXTURE("hf-broken.json"), &m, &err), -EINVAL);
    assert_non_null(strstr(err, "hf-broken.json: missing key 'hidden_size'"));
    assert_int_equal(m.n_layers, -7);
    free(err);
    assert_int_equal(fm_llm_from_hf_config(FIXTURE("hf-badjson.json"), &m, &err), -EINVAL);
    assert_non_null(strstr(err, "hf-badjson.json:4:"));
    assert_non_null(strstr(err, "invalid JSON"));
    free(err);
    assert_int_equal(fm_llm_from_hf_config(FIXTURE("hf-none.json"), &m, &err), -ENOENT);
    assert_non_null(strstr(err, "hf-none.json"));
    free(err);
    assert_int_equal(m.n_layers, -7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_entries),
        cmocka_unit_test(test_entries_valid),
        cmocka_unit_test(test_units_converted),
        cmocka_unit_test(test_llama_8b),
        cmocka_unit_test(test_big_dense),
        cmocka_unit_test(test_moe),
        cmocka_unit_test(test_tied_embeddings),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_kv_8b_h100),
        cmocka_unit_test(test_kv_monotone),
        cmocka_unit_test(test_kv_70b_does_not_fit),
        cmocka_unit_test(test_yaml_override),
        cmocka_unit_test(test_yaml_defaults),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test_setup_teardown(test_dir_order_and_merge, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_dir_errors, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_default_dir),
        cmocka_unit_test(test_hf_llama),
        cmocka_unit_test(test_hf_moe),
        cmocka_unit_test(test_hf_defaults_and_quant),
        cmocka_unit_test_setup_teardown(test_hf_name_from_dir, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_hf_errors),
    };
    return cmocka_run_group_tests_name("models", tests, load_catalog, free_catalog);
}
