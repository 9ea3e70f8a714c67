/*
 * runcommon.c: loading, running and printing shared by the simulating subcommands.
 */
#include "runcommon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "fm_models.h"

int fs_run_opt(fs_run_opts *ro, int c, const char *arg, const char *cmd)
{
    char *end;
    unsigned long long v;
    switch (c) {
    case 'c':
        ro->catalog = arg;
        return 0;
    case 's':
    case 'n':
        errno = 0;
        v = strtoull(arg, &end, 10);
        if (*arg == '-' || *end != '\0' || errno != 0 || (c == 'n' && v == 0)) {
            fprintf(stderr, "fleetsim %s: --%s expects a %s integer, got '%s'\n", cmd,
                    c == 's' ? "seed" : "requests", c == 's' ? "non-negative" : "positive", arg);
            return -1;
        }
        if (c == 's')
            ro->seed_set = true, ro->seed = v;
        else
            ro->requests = v;
        return 0;
    default:
        return -1;
    }
}

static void apply_overrides(fs_scenario *sc, const fs_run_opts *ro)
{
    if (ro->seed_set) {
        sc->seed = ro->seed;
        ft_spec_set_seed(&sc->workload, ro->seed);
    }
    if (ro->requests)
        ft_spec_set_requests(&sc->workload, ro->requests);
}

int fs_load_scenario(const char *cmd, const char *path, const fs_run_opts *ro,
                     fs_scenario *sc)
{
    fm_catalog *cat = NULL;
    char *err = NULL;
    const char *dir = ro->catalog ? ro->catalog : fm_default_catalog_dir();
    int rc = fm_catalog_load_dir(dir, &cat, &err);
    if (rc == 0)
        rc = fs_scenario_load(path, cat, sc, &err);
    fm_catalog_free(cat);
    if (rc != 0) {
        fprintf(stderr, "fleetsim %s: %s\n", cmd, err ? err : strerror(-rc));
        free(err);
        return -1;
    }
    apply_overrides(sc, ro);
    return 0;
}

int fs_load_and_run(const char *cmd, const char *path, const fs_run_opts *ro,
                    fs_scenario *sc, fs_run_result *res)
{
    char *err = NULL;
    if (fs_load_scenario(cmd, path, ro, sc) != 0)
        return -1;
    int rc = fs_cluster_run(sc, res, &err);
    if (rc != 0) {
        fprintf(stderr, "fleetsim %s: %s\n", cmd, err ? err : strerror(-rc));
        free(err);
        fs_scenario_free(sc);
        return -1;
    }
    return 0;
}

/* 1234567 -> "1,234,567", as vLLM prints token counts. */
static const char *thousands(int64_t v, char buf[32])
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%" PRId64, v), o = 0;
    for (int i = 0; i < n; i++) {
        buf[o++] = digits[i];
        if (digits[i] != '-' && (n - i - 1) % 3 == 0 && i != n - 1)
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

void fs_print_run_header(FILE *f, const fs_scenario *sc, const fm_kv_sizing *kv)
{
    char a[32], b[32], c[32];
    fprintf(f, "scenario     %s (seed %" PRIu64 ")\n", sc->name, sc->seed);
    fprintf(f, "fleet        %d x %s, tp %d, %d replica%s of %s; latency model %s\n",
            sc->replicas * sc->tp, sc->accel.name, sc->tp, sc->replicas,
            sc->replicas == 1 ? "" : "s", sc->llm.name, sc->latency_model);
    fprintf(f, "kv cache     %.2f GiB per shard: %s tokens (%s blocks of %d)\n",
            kv->kv_bytes / (1024.0 * 1024 * 1024), thousands(kv->num_tokens, a),
            thousands(kv->num_blocks, b), sc->engine.block_size);
    int64_t per_req = (sc->engine.max_model_len + sc->engine.block_size - 1) /
                      sc->engine.block_size;
    fprintf(f, "             maximum concurrency for %s tokens per request: %.2fx\n\n",
            thousands(sc->engine.max_model_len, c), per_req ? (double)kv->num_blocks / per_req : 0.0);
}

static json_t *scenario_json(const fs_scenario *sc)
{
    const char *file = strrchr(sc->path, '/') ? strrchr(sc->path, '/') + 1 : sc->path;
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:s}", "name", sc->name, "file",
                     file, "seed", (json_int_t)sc->seed, "model", sc->llm.name,
                     "accelerator", sc->accel.name, "tp", sc->tp, "replicas", sc->replicas,
                     "latency_model", sc->latency_model);
}

static json_t *kv_json(const fs_scenario *sc, const fm_kv_sizing *kv)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:I, s:I, s:i}", "requested_bytes",
                     kv->requested_bytes, "weight_bytes", kv->weight_bytes,
                     "activation_bytes", kv->activation_bytes, "kv_bytes", kv->kv_bytes,
                     "num_blocks", (json_int_t)kv->num_blocks, "num_tokens",
                     (json_int_t)kv->num_tokens, "block_size", sc->engine.block_size);
}

json_t *fs_run_to_json(const fs_scenario *sc, const fs_run_result *res)
{
    return json_pack("{s:o, s:o, s:o}", "scenario", scenario_json(sc), "kv_cache",
                     kv_json(sc, &res->kv), "summary", fs_summary_to_json(&res->summary));
}
