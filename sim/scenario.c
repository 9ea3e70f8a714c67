/*
 * scenario.c: loads a scenario YAML file into an fs_scenario and validates it.
 *
 * Each section has a table of fields (fu_yfield) so that unknown keys, wrong types and
 * out-of-range values are rejected uniformly with file:line:column. Sections that take
 * several shapes (a model given by name, by overrides of a catalogue entry, or by a
 * config.json) are read by hand; the workload section is read by ft_spec_from_yaml()
 * (libfleettraces), which owns its keys. Defaults
 * are vLLM's where a field mirrors a vLLM flag. The scenario is read once per run, so
 * clarity wins over speed here.
 */
#include "scenario.h"

#include <errno.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fm_latency.h"
#include "fu_yaml.h"

#define S(f) offsetof(fs_scenario, f)

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* --- paths --- */

/* Resolves `rel` against the directory of the scenario file into out[PATH_MAX]. */
static int resolve_path(const fs_scenario *sc, fu_ynode where, const char *rel, char *out,
                        char **err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", sc->path);
    int n = rel[0] == '/' ? snprintf(out, PATH_MAX, "%s", rel)
                          : snprintf(out, PATH_MAX, "%s/%s", dirname(dir), rel);
    if (n >= PATH_MAX)
        return fail(err, fu_ynode_errf(where, "path too long"));
    return 0;
}

static int require_file(fu_ynode where, const char *path, const char *what, char **err)
{
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return 0;
    }
    int e = errno;
    char *msg = fu_ynode_errf(where, "cannot open %s '%s': %s", what, path, strerror(e));
    if (err)
        *err = msg;
    else
        free(msg);
    return e == ENOENT ? -ENOENT : -EIO;
}

/* --- model and accelerator --- */

static char *known_llms(const fm_catalog *cat)
{
    size_t n = fm_catalog_n_llms(cat), len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(fm_catalog_llm_at(cat, i)->name) + 2;
    char *s = calloc(1, len);
    for (size_t i = 0; s && i < n; i++)
        strcat(strcat(s, i ? ", " : ""), fm_catalog_llm_at(cat, i)->name);
    return s;
}

static char *known_accels(const fm_catalog *cat)
{
    size_t n = fm_catalog_n_accels(cat), len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(fm_catalog_accel_at(cat, i)->name) + 2;
    char *s = calloc(1, len);
    for (size_t i = 0; s && i < n; i++)
        strcat(strcat(s, i ? ", " : ""), fm_catalog_accel_at(cat, i)->name);
    return s;
}

static int llm_by_name(fu_ynode n, const fm_catalog *cat, fm_llm *out, char **err)
{
    const char *name = fu_ynode_str(n);
    const fm_llm *m = name ? fm_catalog_llm(cat, name) : NULL;
    if (m) {
        *out = *m;
        return 0;
    }
    char *known = known_llms(cat);
    int rc = fail(err, fu_ynode_errf(n, "unknown model '%s' (known: %s; or give a mapping "
                                        "with base: or hf_config:)",
                                     name ? name : "?", known ? known : "?"));
    free(known);
    return rc;
}

static int accel_by_name(fu_ynode n, const fm_catalog *cat, fm_accel *out, char **err)
{
    const char *name = fu_ynode_str(n);
    const fm_accel *a = name ? fm_catalog_accel(cat, name) : NULL;
    if (a) {
        *out = *a;
        return 0;
    }
    char *known = known_accels(cat);
    int rc = fail(err, fu_ynode_errf(n, "unknown accelerator '%s' (known: %s; or give a "
                                        "mapping with base: and overrides)",
                                     name ? name : "?", known ? known : "?"));
    free(known);
    return rc;
}

/* model: NAME | {base: NAME, field: value...} | {hf_config: PATH, field: value...} */
static int load_model(fs_scenario *sc, fu_ynode n, const fm_catalog *cat, char **err)
{
    if (fu_ynode_is_scalar(n))
        return llm_by_name(n, cat, &sc->llm, err);
    if (!fu_ynode_is_map(n))
        return fail(err, fu_ynode_errf(n, "expected a model name or a mapping for model"));
    fm_llm m = {0};
    fu_ynode base = fu_ymap_get(n, "base"), hf = fu_ymap_get(n, "hf_config");
    int rc = 0;
    if (fu_ynode_ok(base) && fu_ynode_ok(hf))
        return fail(err, fu_ynode_errf(hf, "give either base: or hf_config:, not both"));
    if (fu_ynode_ok(base))
        rc = llm_by_name(base, cat, &m, err);
    else if (fu_ynode_ok(hf)) {
        char path[PATH_MAX];
        const char *rel = fu_ynode_str(hf);
        if (!rel)
            return fail(err, fu_ynode_errf(hf, "expected a path to a config.json"));
        if ((rc = resolve_path(sc, hf, rel, path, err)) ||
            (rc = require_file(hf, path, "Hugging Face config", err)))
            return rc;
        rc = fm_llm_from_hf_config(path, &m, err);
    }
    if (rc == 0)
        rc = fm_llm_from_yaml(n, &m, err);
    if (rc == 0 && (rc = fm_llm_validate(&m, err)) == 0)
        sc->llm = m;
    return rc;
}

/* accelerator: NAME | {base: NAME, overrides...} | {name: X, all fields...} */
static int load_accel(fs_scenario *sc, fu_ynode n, const fm_catalog *cat, char **err)
{
    if (fu_ynode_is_scalar(n))
        return accel_by_name(n, cat, &sc->accel, err);
    if (!fu_ynode_is_map(n))
        return fail(err, fu_ynode_errf(n, "expected an accelerator name or a mapping"));
    fm_accel a = {0};
    fu_ynode base = fu_ymap_get(n, "base");
    int rc = fu_ynode_ok(base) ? accel_by_name(base, cat, &a, err) : 0;
    if (rc == 0 && !fu_ynode_ok(base))
        snprintf(a.name, sizeof a.name, "custom");
    if (rc == 0)
        rc = fm_accel_from_yaml(n, &a, err);
    if (rc == 0 && (rc = fm_accel_validate(&a, err)) == 0)
        sc->accel = a;
    return rc;
}

/* --- engine --- */

static const fu_yfield engine_fields[] = {
    {"block_size", FU_Y_INT, S(engine.block_size), 0, 1, 1024, 0, "tokens per KV block"},
    {"max_num_seqs", FU_Y_INT, S(engine.max_num_seqs), 0, 1, 1e6, 0, "cap on running requests"},
    {"max_num_batched_tokens", FU_Y_INT, S(engine.max_num_batched_tokens), 0, 1, 1e8, 0,
     "token budget per step"},
    {"max_model_len", FU_Y_INT, S(engine.max_model_len), 0, 0, 1e8, 0,
     "context window (0 = the model's)"},
    {"long_prefill_token_threshold", FU_Y_INT, S(engine.long_prefill_token_threshold), 0, 0,
     1e8, 0, "cap on one request's tokens per step (0 = off)"},
    {"enable_prefix_caching", FU_Y_BOOL, S(engine.enable_prefix_caching), 0, 0, 0, 0, ""},
    {"enable_chunked_prefill", FU_Y_BOOL, S(engine.enable_chunked_prefill), 0, 0, 0, 0, ""},
    {"reserve_full_isl", FU_Y_BOOL, S(engine.reserve_full_isl), 0, 0, 0, 0, ""},
    {"gpu_memory_utilization", FU_Y_DOUBLE, S(gpu_memory_utilization), 0, 0.01, 1, 0, ""},
    {"num_gpu_blocks_override", FU_Y_INT64, S(num_gpu_blocks_override), 0, 0, 1e12, 0, ""},
    {NULL},
};

static int load_engine(fs_scenario *sc, fu_ynode n, char **err)
{
    static const char *const skip[] = {"scheduling_policy", NULL};
    int rc = fu_yaml_apply(n, "engine", engine_fields, skip, sc, err);
    fu_ynode pol = fu_ymap_get(n, "scheduling_policy");
    if (rc || !fu_ynode_ok(pol))
        return rc;
    const char *p = fu_ynode_str(pol);
    if (p && (strcmp(p, "fcfs") == 0 || strcmp(p, "priority") == 0)) {
        sc->engine.priority_scheduling = strcmp(p, "priority") == 0;
        return 0;
    }
    return fail(err, fu_ynode_errf(pol, "expected fcfs or priority for scheduling_policy, "
                                        "got '%s'", p ? p : "a non-scalar"));
}

/* --- workload --- */

/* The workload section is read by libfleettraces (ft_spec); paths relative to the file. */
static int load_workload(fs_scenario *sc, fu_ynode n, char **err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", sc->path);
    return ft_spec_from_yaml(n, dirname(dir), sc->seed, &sc->workload, err);
}

/* --- SLOs --- */

typedef struct slo_ns {
    int64_t ttft, tpot, e2e;
    double percentile;
} slo_ns;

static int load_slo(fs_scenario *sc, fu_ynode n, char **err)
{
    static const fu_yfield fields[] = {
        {"ttft", FU_Y_DURATION_NS, offsetof(slo_ns, ttft), 0, 1e-6, 1e6, 0, "time to first token"},
        {"tpot", FU_Y_DURATION_NS, offsetof(slo_ns, tpot), 0, 1e-6, 1e6, 0, "time per output token"},
        {"e2e", FU_Y_DURATION_NS, offsetof(slo_ns, e2e), 0, 1e-6, 1e6, 0, "end-to-end latency"},
        {"percentile", FU_Y_DOUBLE, offsetof(slo_ns, percentile), 0, 1, 100, 0,
         "percentile the targets apply to, e.g. 99"},
        {NULL},
    };
    slo_ns s = {0, 0, 0, 99};
    int rc = fu_yaml_apply(n, "slo", fields, NULL, &s, err);
    if (rc)
        return rc;
    sc->slo.ttft_s = s.ttft / 1e9;
    sc->slo.tpot_s = s.tpot / 1e9;
    sc->slo.e2e_s = s.e2e / 1e9;
    sc->slo.percentile = s.percentile / 100;
    return 0;
}

/* --- top level --- */

static const fu_yfield top_fields[] = {
    {"name", FU_Y_STR, S(name), sizeof(((fs_scenario *)0)->name), 0, 0, 0, "run name"},
    {"seed", FU_Y_INT64, S(seed), 0, 0, 9.2e18, 0, "random seed"},
    {"tp", FU_Y_INT, S(tp), 0, 1, 1024, 0, "tensor-parallel degree"},
    {"replicas", FU_Y_INT, S(replicas), 0, 1, 4096, 0, "model-server replicas"},
    {"latency_model", FU_Y_STR, S(latency_model), sizeof(((fs_scenario *)0)->latency_model),
     0, 0, 0, "roofline"},
    {NULL},
};

static void set_defaults(fs_scenario *sc)
{
    snprintf(sc->latency_model, sizeof sc->latency_model, "roofline");
    sc->tp = 1;
    sc->replicas = 1;
    sc->gpu_memory_utilization = 0.9;
    fs_engine_config_defaults(&sc->engine);
    sc->engine.max_model_len = 0; /* the model's context window, set in cross_check */
}

static int require_keys(fu_ynode root, char **err)
{
    static const char *const required[] = {"model", "accelerator", "workload"};
    for (size_t i = 0; i < 3; i++)
        if (!fu_ynode_ok(fu_ymap_get(root, required[i])))
            return fail(err, fu_ynode_errf(root, "missing required key '%s'", required[i]));
    return 0;
}

/* The sections in the order they depend on each other (seed before workload). */
static int load_sections(fs_scenario *sc, fu_ynode root, const fm_catalog *cat, char **err)
{
    static const char *const skip[] = {"model", "accelerator", "engine", "workload", "slo",
                                       "description", NULL};
    int rc = fu_yaml_apply(root, "scenario", top_fields, skip, sc, err);
    if (rc == 0)
        rc = require_keys(root, err);
    if (rc == 0)
        rc = load_model(sc, fu_ymap_get(root, "model"), cat, err);
    if (rc == 0)
        rc = load_accel(sc, fu_ymap_get(root, "accelerator"), cat, err);
    if (rc == 0 && fu_ynode_ok(fu_ymap_get(root, "engine")))
        rc = load_engine(sc, fu_ymap_get(root, "engine"), err);
    if (rc == 0)
        rc = load_workload(sc, fu_ymap_get(root, "workload"), err);
    if (rc == 0 && fu_ynode_ok(fu_ymap_get(root, "slo")))
        rc = load_slo(sc, fu_ymap_get(root, "slo"), err);
    return rc;
}

/* Checks that need several sections at once. */
static int cross_check(fs_scenario *sc, fu_ynode root, char **err)
{
    if (sc->engine.max_model_len == 0)
        sc->engine.max_model_len = sc->llm.max_model_len;
    if (!fm_latency_find(sc->latency_model))
        return fail(err, fu_ynode_errf(fu_ymap_get(root, "latency_model"),
                                       "unknown latency model '%s' (known: roofline)",
                                       sc->latency_model));
    if (sc->engine.max_model_len > sc->llm.max_model_len)
        return fail(err, fu_ynode_errf(fu_ymap_get(root, "engine"),
                                       "max_model_len %d exceeds %s's context window of %d",
                                       sc->engine.max_model_len, sc->llm.name,
                                       sc->llm.max_model_len));
    return 0;
}

static char *read_text(const char *path, char **err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (!f) {
        if (err)
            *err = fu_asprintf("%s: cannot open scenario: %s", path, strerror(errno));
        return NULL;
    }
    FILE *mem = open_memstream(&buf, &len);
    char chunk[8192];
    size_t n;
    while (mem && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    if (mem)
        fclose(mem);
    fclose(f);
    if (!buf && err)
        *err = fu_asprintf("%s: out of memory", path);
    return buf;
}

/* The file name without directory and .yaml/.yml, as the default run name. */
static void default_name(fs_scenario *sc, const char *path)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    snprintf(sc->name, sizeof sc->name, "%s", base);
    char *dot = strrchr(sc->name, '.');
    if (dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0))
        *dot = '\0';
}

int fs_scenario_load(const char *path, const fm_catalog *cat, fs_scenario *out, char **err)
{
    fs_scenario *sc = calloc(1, sizeof *sc);
    fu_yaml *doc = NULL;
    int rc = -ENOMEM;
    memset(out, 0, sizeof *out);
    if (!sc)
        return fail(err, fu_asprintf("%s: out of memory", path)), -ENOMEM;
    if (strlen(path) >= sizeof sc->path) {
        free(sc);
        return fail(err, fu_asprintf("%s: path too long", path));
    }
    snprintf(sc->path, sizeof sc->path, "%s", path);
    set_defaults(sc);
    default_name(sc, path);
    if (!(sc->text = read_text(path, err)))
        rc = -ENOENT;
    else if ((rc = fu_yaml_load_string(path, sc->text, strlen(sc->text), &doc, err)) == 0) {
        fu_ynode root = fu_yaml_root(doc);
        if (!fu_ynode_is_map(root))
            rc = fail(err, fu_asprintf("%s: expected a mapping of scenario keys (model, "
                                       "accelerator, workload, ...)", path));
        if (rc == 0 && (rc = load_sections(sc, root, cat, err)) == 0)
            rc = cross_check(sc, root, err);
    }
    fu_yaml_free(doc);
    if (rc == 0) {
        *out = *sc;
    } else {
        free(sc->text);
        ft_spec_free(&sc->workload);
    }
    free(sc);
    return rc;
}

void fs_scenario_free(fs_scenario *sc)
{
    if (!sc)
        return;
    free(sc->text);
    sc->text = NULL;
    ft_spec_free(&sc->workload);
}

int fs_scenario_open_workload(const fs_scenario *sc, ft_source **out, char **err)
{
    return ft_spec_open(&sc->workload, out, err);
}
