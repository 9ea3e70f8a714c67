/*
 * fuzz_models.c: libFuzzer target for what describes hardware and models: Hugging
 * Face config.json files, catalogue-style LLM and accelerator mappings, and fit files.
 *
 * The first input byte picks the reader and a tensor-parallel degree; the rest is the
 * text. JSON and fit files go through a file (their readers take paths) in $TMPDIR;
 * mappings are read on top of the catalogue's llama-3.1-8b or H100-SXM, as a
 * scenario's overrides are. Whatever loads and validates is then used: KV sizing,
 * and the roofline (or, for a fit file, the fitted and profile models where it has an
 * entry) predicting decode and prefill steps. The target checks the promises: a
 * failure says why and leaves the output untouched; a sizing has whole, positive
 * blocks; predicted step times are finite, not negative, positive for work (but where
 * a DistServe polynomial reaches 0), and work never takes less time than none. Any
 * crash, leak, sanitizer report or broken promise is a finding.
 *
 * Built by `make fuzz` with clang -fsanitize=fuzzer; the corpus in fuzz/corpus/models
 * is replayed by tests/test_fuzz_corpus in `make check`, which includes this file with
 * FUZZ_MODELS_ENTRY renamed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fm_fit.h"
#include "fm_latency.h"
#include "fm_models.h"
#include "fu_yaml.h"
#include "fuzz_util.h"

#ifndef FUZZ_MODELS_ENTRY
#define FUZZ_MODELS_ENTRY LLVMFuzzerTestOneInput
#endif



/* Writes the text to this process's scratch file and returns its path (static). */
static const char *fzm_file(const uint8_t *text, size_t len, const char *suffix)
{
    static char path[512];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fleetsim-fuzz-models-%ld%s", tmp && *tmp ? tmp : "/tmp",
             (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    FUZZ_REQUIRE(f != NULL, "the scratch file opens", path);
    FUZZ_REQUIRE(fwrite(text, 1, len, f) == len && fclose(f) == 0, "the scratch file is written",
                 path);
    return path;
}

/* A latency model's promises on a few batches; `positive`: work takes time (every
   model but a DistServe fit, whose polynomials may reach 0). */
static void fzm_steps(fm_latency *l, bool positive)
{
    fm_seq_work decode[8], prefill = { 2048, 0 }, mixed[2] = { { 512, 1000 }, { 1, 4000 } };
    for (int i = 0; i < 8; i++)
        decode[i] = (fm_seq_work){ 1, 100u << i };
    fm_step_breakdown bd;
    double none = fm_latency_step(l, NULL, 0, NULL);
    double t[3] = { fm_latency_step(l, decode, 8, &bd), fm_latency_step(l, &prefill, 1, NULL),
                    fm_latency_step(l, mixed, 2, NULL) };
    FUZZ_REQUIRE(isfinite(none) && none >= 0, "an empty step takes a finite, non-negative time",
                 NULL);
    for (int i = 0; i < 3; i++) {
        FUZZ_REQUIRE(isfinite(t[i]) && t[i] >= 0, "a step takes a finite time, >= 0", NULL);
        FUZZ_REQUIRE(!positive || t[i] > 0, "work takes time", NULL);
        FUZZ_REQUIRE(t[i] >= none, "work never takes less time than none", NULL);
    }
    FUZZ_REQUIRE(isfinite(bd.total) && bd.total == t[0], "the breakdown's total is the step's",
                 NULL);
}

/* Sizes and times a replica of m on tp accelerators a (each failure must say why). */
static void fzm_use(const fm_accel *a, const fm_llm *m, int tp)
{
    char *err = NULL;
    if (fm_llm_check_tp(m, tp, &err)) {
        FUZZ_REQUIRE(err && *err, "a TP that does not divide says why", NULL);
        free(err);
        return;
    }
    fm_kv_sizing kv;
    memset(&kv, 0xa5, sizeof kv);
    fm_kv_sizing before = kv;
    if (fm_kv_size(a, m, tp, 0.9, 16, 8192, 256, &kv, &err) == 0) {
        FUZZ_REQUIRE(kv.num_blocks > 0 && kv.num_tokens == kv.num_blocks * 16,
                     "a sizing has whole, positive blocks", NULL);
        FUZZ_REQUIRE(isfinite(kv.kv_bytes) && kv.kv_bytes > 0, "a sizing leaves KV bytes", NULL);
    } else {
        FUZZ_REQUIRE(err && *err, "a model that does not fit says why", NULL);
        FUZZ_REQUIRE(memcmp(&kv, &before, sizeof kv) == 0, "a failed sizing leaves *out alone",
                     NULL);
        free(err);
        err = NULL;
    }
    fm_latency *l = NULL;
    if (fm_latency_new("roofline", a, m, tp, &l, &err)) {
        FUZZ_REQUIRE(err && *err, "a replica the roofline rejects says why", NULL);
        free(err);
        return;
    }
    fzm_steps(l, true);
    fm_latency_free(l);
}

static void fzm_hf(const uint8_t *text, size_t len, int tp)
{
    fm_llm m;
    char *err = NULL;
    const char *path = fzm_file(text, len, ".json");
    if (fm_llm_from_hf_config(path, &m, &err)) {
        FUZZ_REQUIRE(err && *err, "a bad config.json says why", NULL);
        free(err);
    } else {
        fzm_use(fm_catalog_accel(fuzz_catalog(), "H100-SXM"), &m, tp);
    }
    unlink(path);
}

static void fzm_yaml(const uint8_t *text, size_t len, int tp, bool accel)
{
    fu_yaml *doc = NULL;
    char *err = NULL;
    if (fu_yaml_load_string("fuzz.yaml", (const char *)text, len, &doc, &err)) {
        FUZZ_REQUIRE(err && *err, "invalid YAML says why", NULL);
        free(err);
        return;
    }
    fm_accel a = *fm_catalog_accel(fuzz_catalog(), "H100-SXM");
    fm_llm m = *fm_catalog_llm(fuzz_catalog(), "llama-3.1-8b");
    fm_accel a0 = a;
    fm_llm m0 = m;
    int rc = accel ? fm_accel_from_yaml(fu_yaml_root(doc), &a, &err)
                   : fm_llm_from_yaml(fu_yaml_root(doc), &m, &err);
    if (rc) {
        FUZZ_REQUIRE(err && *err, "a bad mapping says why", NULL);
        FUZZ_REQUIRE(accel ? memcmp(&a, &a0, sizeof a) == 0 : memcmp(&m, &m0, sizeof m) == 0,
                     "a bad mapping leaves the entry unchanged", err);
        free(err);
    } else if ((accel ? fm_accel_validate(&a, &err) : fm_llm_validate(&m, &err)) == 0) {
        fzm_use(&a, &m, tp);
    } else {
        FUZZ_REQUIRE(err && *err, "an invalid entry says why", NULL);
        free(err);
    }
    fu_yaml_free(doc);
}

static void fzm_fits(const uint8_t *text, size_t len, int tp)
{
    fm_fits *f = NULL;
    char *err = NULL;
    const char *path = fzm_file(text, len, ".yaml");
    if (fm_fits_load(path, &f, &err)) {
        FUZZ_REQUIRE(f == NULL && err && *err, "a bad fit file says why and gives nothing", NULL);
        free(err);
        unlink(path);
        return;
    }
    bool distserve = false;
    for (size_t i = 0; i < f->n; i++)
        distserve |= f->e[i].form == FM_FORM_DISTSERVE;
    fm_fits_free(f);
    /* the models that read fit files, for the replicas the bundled fits describe */
    static const char *const kinds[] = { "fitted", "profile", "roofline" };
    static const char *const llms[] = { "llama-2-7b", "llama-3.1-8b" };
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < 2; i++) {
            fm_latency *l = NULL;
            const fm_llm *m = fm_catalog_llm(fuzz_catalog(), llms[i]);
            const fm_accel *a = fm_catalog_accel(fuzz_catalog(), "H100-SXM");
            if (fm_latency_new_with(kinds[k], a, m, tp, path, &l, &err) == 0) {
                fzm_steps(l, !distserve);
                fm_latency_free(l);
            } else {
                FUZZ_REQUIRE(err && *err, "a fit the model cannot use says why", kinds[k]);
                free(err);
                err = NULL;
            }
        }
    unlink(path);
}

int FUZZ_MODELS_ENTRY(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 16384)
        return 0;
    int tp = 1 << ((data[0] >> 2) & 3);   /* 1, 2, 4 or 8 */
    switch (data[0] & 3) {
    case 0: fzm_hf(data + 1, size - 1, tp); break;
    case 1: fzm_yaml(data + 1, size - 1, tp, false); break;
    case 2: fzm_yaml(data + 1, size - 1, tp, true); break;
    default: fzm_fits(data + 1, size - 1, tp); break;
    }
    return 0;
}
