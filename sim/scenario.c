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

#include "fleetpolicy.h"
#include "fm_latency.h"
#include "fu_yaml.h"

#define S(f) offsetof(fs_scenario, f)
#define P(f) offsetof(fs_pool, f)

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

/* "a, b, c" of n names, name(i) giving each, or a note that the catalogue is empty
   (a catalogue directory without files); NULL when out of memory. */
static char *join_names(const fm_catalog *cat, size_t n,
                        const char *(*name)(const fm_catalog *, size_t))
{
    if (n == 0)
        return strdup("none, the catalogue is empty: check FLEETSIM_DATADIR or --catalog");
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(name(cat, i)) + 2;
    char *s = calloc(1, len);
    for (size_t i = 0; s && i < n; i++)
        strcat(strcat(s, i ? ", " : ""), name(cat, i));
    return s;
}

static const char *llm_name(const fm_catalog *c, size_t i) { return fm_catalog_llm_at(c, i)->name; }
static const char *accel_name(const fm_catalog *c, size_t i)
{
    return fm_catalog_accel_at(c, i)->name;
}

static char *known_llms(const fm_catalog *cat)
{
    return join_names(cat, fm_catalog_n_llms(cat), llm_name);
}

static char *known_accels(const fm_catalog *cat)
{
    return join_names(cat, fm_catalog_n_accels(cat), accel_name);
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
static int load_accel(fm_accel *out, fu_ynode n, const fm_catalog *cat, char **err)
{
    if (fu_ynode_is_scalar(n))
        return accel_by_name(n, cat, out, err);
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
        *out = a;
    return rc;
}

/* --- engine --- */

static const fu_yfield engine_fields[] = {
    {"block_size", FU_Y_INT, P(engine.block_size), 0, 1, 1024, 0, "tokens per KV block"},
    {"max_num_seqs", FU_Y_INT, P(engine.max_num_seqs), 0, 1, 1e6, 0, "cap on running requests"},
    {"max_num_batched_tokens", FU_Y_INT, P(engine.max_num_batched_tokens), 0, 1, 1e8, 0,
     "token budget per step"},
    {"max_model_len", FU_Y_INT, P(engine.max_model_len), 0, 0, 1e8, 0,
     "context window (0 = the model's)"},
    {"long_prefill_token_threshold", FU_Y_INT, P(engine.long_prefill_token_threshold), 0, 0,
     1e8, 0, "cap on one request's tokens per step (0 = off)"},
    {"enable_prefix_caching", FU_Y_BOOL, P(engine.enable_prefix_caching), 0, 0, 0, 0, ""},
    {"enable_chunked_prefill", FU_Y_BOOL, P(engine.enable_chunked_prefill), 0, 0, 0, 0, ""},
    {"reserve_full_isl", FU_Y_BOOL, P(engine.reserve_full_isl), 0, 0, 0, 0, ""},
    {"gpu_memory_utilization", FU_Y_DOUBLE, P(gpu_memory_utilization), 0, 0.01, 1, 0, ""},
    {"num_gpu_blocks_override", FU_Y_INT64, P(num_gpu_blocks_override), 0, 0, 1e12, 0, ""},
    {NULL},
};

static int load_engine(fs_pool *p, fu_ynode n, char **err)
{
    static const char *const skip[] = {"scheduling_policy", NULL};
    int rc = fu_yaml_apply(n, "engine", engine_fields, skip, p, err);
    fu_ynode pol = fu_ymap_get(n, "scheduling_policy");
    if (rc || !fu_ynode_ok(pol))
        return rc;
    const char *v = fu_ynode_str(pol);
    if (v && (strcmp(v, "fcfs") == 0 || strcmp(v, "priority") == 0)) {
        p->engine.priority_scheduling = strcmp(v, "priority") == 0;
        return 0;
    }
    return fail(err, fu_ynode_errf(pol, "expected fcfs or priority for scheduling_policy, "
                                        "got '%s'", v ? v : "a non-scalar"));
}

/* --- pools --- */

/* Replica shape keys valid at the top level and in each pool. */
static const fu_yfield shape_fields[] = {
    {"tp", FU_Y_INT, P(tp), 0, 1, 1024, 0, "tensor-parallel degree"},
    {"replicas", FU_Y_INT, P(replicas), 0, 1, 4096, 0, "model-server replicas"},
    {"latency_model", FU_Y_STR, P(latency_model), sizeof(((fs_pool *)0)->latency_model), 0, 0,
     0, "roofline"},
    {"latency_params", FU_Y_STR, P(latency_params), PATH_MAX, 0, 0, 0,
     "fit file of the latency model (fleetsim calibrate's output)"},
    {NULL},
};

const char *fs_role_name(fs_role r)
{
    return r == FS_ROLE_PREFILL ? "prefill" : r == FS_ROLE_DECODE ? "decode" : "both";
}

static int load_role(fs_pool *p, fu_ynode n, char **err)
{
    static const fs_role roles[] = {FS_ROLE_BOTH, FS_ROLE_PREFILL, FS_ROLE_DECODE};
    const char *v = fu_ynode_str(n);
    for (size_t i = 0; v && i < 3; i++)
        if (strcmp(v, fs_role_name(roles[i])) == 0) {
            p->role = roles[i];
            return 0;
        }
    return fail(err, fu_ynode_errf(n, "expected role both, prefill or decode"));
}

static int load_labels(fs_pool *p, fu_ynode n, char **err)
{
    if (!fu_ynode_is_map(n) || fu_ynode_len(n) > FS_MAX_LABELS)
        return fail(err, fu_ynode_errf(n, "expected a mapping of at most %d labels",
                                       FS_MAX_LABELS));
    for (size_t i = 0; i < fu_ynode_len(n); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(n, i)), *v = fu_ynode_str(fu_ymap_val(n, i));
        fs_label *l = &p->labels[i];
        if (!k || !v || strlen(k) >= sizeof l->key || strlen(v) >= sizeof l->value)
            return fail(err, fu_ynode_errf(fu_ymap_key(n, i), "expected key: value with "
                                                               "both under 64 characters"));
        snprintf(l->key, sizeof l->key, "%s", k);
        snprintf(l->value, sizeof l->value, "%s", v);
    }
    p->nlabels = (int)fu_ynode_len(n);
    return 0;
}

/* The index of a workload class, by number or by the generator's class name; -1 if none. */
static int class_index(const fs_scenario *sc, const char *v)
{
    char *end;
    long i = strtol(v, &end, 10);
    if (*end == '\0' && end != v)
        return i >= 0 && i < 64 ? (int)i : -1;
    const ft_spec *sp = &sc->workload;
    for (size_t c = 0; sp->kind == FT_SPEC_GENERATOR && c < sp->gen.nclasses; c++)
        if (strcmp(sp->gen.classes[c].name, v) == 0)
            return (int)c;
    return -1;
}

static int load_classes(const fs_scenario *sc, fs_pool *p, fu_ynode n, char **err)
{
    if (!fu_ynode_is_seq(n) || fu_ynode_len(n) == 0)
        return fail(err, fu_ynode_errf(n, "expected a list of workload class names or numbers"));
    for (size_t i = 0; i < fu_ynode_len(n); i++) {
        fu_ynode c = fu_yseq_item(n, i);
        int idx = fu_ynode_str(c) ? class_index(sc, fu_ynode_str(c)) : -1;
        if (idx < 0)
            return fail(err, fu_ynode_errf(c, "unknown workload class '%s'",
                                           fu_ynode_str(c) ? fu_ynode_str(c) : "?"));
        p->class_mask |= UINT64_C(1) << idx;
    }
    return 0;
}

/* One entry of `pools:`, starting from the top-level defaults in *p. */
static int load_pool(fs_scenario *sc, fs_pool *p, fu_ynode n, const fm_catalog *cat, char **err)
{
    static const fu_yfield name_field[] = {
        {"name", FU_Y_STR, P(name), sizeof(((fs_pool *)0)->name), 0, 0, 0, "pool name"},
        {NULL},
    };
    static const char *const skip[] = {"name", "role", "accelerator", "engine", "labels",
                                       "classes", "tp", "replicas", "latency_model", NULL};
    fu_ynode v;
    /* Two tables over one mapping: each skips the other's keys (shape keys last). */
    int rc = fu_yaml_apply(n, "pool", shape_fields, skip, p, err);
    if (rc == 0)
        rc = fu_yaml_apply(n, "pool", name_field, skip + 1, p, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(n, "role")))
        rc = load_role(p, v, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(n, "accelerator")))
        rc = load_accel(&p->accel, v, cat, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(n, "engine")))
        rc = load_engine(p, v, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(n, "labels")))
        rc = load_labels(p, v, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(n, "classes")))
        rc = load_classes(sc, p, v, err);
    return rc;
}

static int load_pools(fs_scenario *sc, const fs_pool *base, fu_ynode n, const fm_catalog *cat,
                      char **err)
{
    if (!fu_ynode_is_seq(n) || fu_ynode_len(n) == 0 || fu_ynode_len(n) > FS_MAX_POOLS)
        return fail(err, fu_ynode_errf(n, "expected a list of 1 to %d pools", FS_MAX_POOLS));
    for (size_t i = 0; i < fu_ynode_len(n); i++) {
        fs_pool *p = &sc->pools[i];
        *p = *base;
        snprintf(p->name, sizeof p->name, "pool%zu", i);
        int rc = load_pool(sc, p, fu_yseq_item(n, i), cat, err);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (strcmp(sc->pools[j].name, p->name) == 0)
                rc = fail(err, fu_ynode_errf(fu_yseq_item(n, i), "duplicate pool name '%s'",
                                             p->name));
        if (rc)
            return rc;
        sc->npools = (int)i + 1;
    }
    return 0;
}

/* --- router --- */

static int load_policy_name(fs_scenario *sc, fu_ynode n, char **err)
{
    const char *v = fu_ynode_str(n);
    const char *const *names = fp_builtin_names();
    for (size_t i = 0; v && names[i]; i++)
        if (strcmp(v, names[i]) == 0) {
            snprintf(sc->router.policy, sizeof sc->router.policy, "%s", v);
            return 0;
        }
    size_t len = 1;
    for (size_t i = 0; names[i]; i++)
        len += strlen(names[i]) + 2;
    char *known = calloc(1, len);
    for (size_t i = 0; known && names[i]; i++)
        strcat(strcat(known, i ? ", " : ""), names[i]);
    int rc = fail(err, fu_ynode_errf(n, "unknown router policy '%s' (built-in: %s; or give "
                                        "config: FILE)", v ? v : "?", known ? known : "?"));
    free(known);
    return rc;
}

static int load_router(fs_scenario *sc, fu_ynode n, char **err)
{
    static const fu_yfield fields[] = {
        {"refresh", FU_Y_DURATION_NS, S(router.refresh_ns), 0, 1e-6, 3600, 0,
         "endpoint snapshot period"},
        {"kv_transfer_overhead", FU_Y_DURATION_NS, S(router.kv_transfer_overhead_ns), 0, 0, 60,
         0, "fixed cost of one KV transfer"},
        {NULL},
    };
    static const char *const skip[] = {"policy", "config", NULL};
    int rc = fu_yaml_apply(n, "router", fields, skip, sc, err);
    fu_ynode pol = fu_ymap_get(n, "policy"), cfg = fu_ymap_get(n, "config");
    if (rc == 0 && fu_ynode_ok(pol) && fu_ynode_ok(cfg))
        return fail(err, fu_ynode_errf(cfg, "give either policy: or config:, not both"));
    if (rc == 0 && fu_ynode_ok(pol))
        rc = load_policy_name(sc, pol, err);
    if (rc == 0 && fu_ynode_ok(cfg)) {
        if (!fu_ynode_str(cfg))
            return fail(err, fu_ynode_errf(cfg, "expected the path of an EndpointPickerConfig"));
        if ((rc = resolve_path(sc, cfg, fu_ynode_str(cfg), sc->router.config_path, err)) == 0)
            rc = require_file(cfg, sc->router.config_path, "router config", err);
    }
    return rc;
}

/* --- topology --- */

static int load_topology(fs_scenario *sc, fu_ynode n, char **err)
{
    static const fu_yfield fields[] = {
        {"nodes_per_rack", FU_Y_INT, S(topology.nodes_per_rack), 0, 1, 1e6, 0,
         "nodes in one rack (default: one rack holds every node)"},
        {"oversubscription", FU_Y_DOUBLE, S(topology.oversubscription), 0, 1, 1e3, 0,
         "spine oversubscription: cross-rack bandwidth = NIC bandwidth / this"},
        {"cross_rack_latency", FU_Y_DURATION_NS, S(topology.cross_rack_latency_ns), 0, 0, 1,
         0, "added latency of a transfer between racks"},
        {NULL},
    };
    return fu_yaml_apply(n, "topology", fields, NULL, sc, err);
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
    {NULL},
};

static void set_defaults(fs_scenario *sc, fs_pool *base)
{
    snprintf(base->name, sizeof base->name, "default");
    snprintf(base->latency_model, sizeof base->latency_model, "roofline");
    base->tp = 1;
    base->replicas = 1;
    base->gpu_memory_utilization = 0.9;
    fs_engine_config_defaults(&base->engine);
    base->engine.max_model_len = 0; /* the model's context window, set in cross_check */
    snprintf(sc->router.policy, sizeof sc->router.policy, "default");
    sc->router.refresh_ns = 50 * 1000 * 1000;
    sc->topology.oversubscription = 1;
}

static int require_keys(fu_ynode root, char **err)
{
    static const char *const required[] = {"model", "workload"};
    for (size_t i = 0; i < 2; i++)
        if (!fu_ynode_ok(fu_ymap_get(root, required[i])))
            return fail(err, fu_ynode_errf(root, "missing required key '%s'", required[i]));
    if (!fu_ynode_ok(fu_ymap_get(root, "accelerator")) && !fu_ynode_ok(fu_ymap_get(root, "pools")))
        return fail(err, fu_ynode_errf(root, "missing required key 'accelerator' (or pools: "
                                             "each with an accelerator)"));
    return 0;
}

/* The top-level replica shape: the defaults of every pool. */
static int load_base(fs_pool *base, fu_ynode root, const fm_catalog *cat, char **err)
{
    static const char *const skip[] = {"name", "seed", "model", "accelerator", "engine",
                                       "workload", "slo", "description", "pools", "router",
                                       "topology", NULL};
    int rc = fu_yaml_apply(root, "scenario", shape_fields, skip, base, err);
    fu_ynode v;
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(root, "accelerator")))
        rc = load_accel(&base->accel, v, cat, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(root, "engine")))
        rc = load_engine(base, v, err);
    return rc;
}

/* The sections in the order they depend on each other (seed before workload, workload
 * before pools, which name its classes). */
static int load_sections(fs_scenario *sc, fu_ynode root, const fm_catalog *cat, char **err)
{
    static const char *const skip[] = {"model", "accelerator", "engine", "workload", "slo",
                                       "description", "tp", "replicas", "latency_model",
                                       "latency_params", "pools", "router", "topology",
                                       NULL};
    fs_pool base;
    memset(&base, 0, sizeof base);
    fu_ynode v;
    set_defaults(sc, &base);
    int rc = fu_yaml_apply(root, "scenario", top_fields, skip, sc, err);
    if (rc == 0)
        rc = require_keys(root, err);
    if (rc == 0)
        rc = load_model(sc, fu_ymap_get(root, "model"), cat, err);
    if (rc == 0)
        rc = load_base(&base, root, cat, err);
    if (rc == 0)
        rc = load_workload(sc, fu_ymap_get(root, "workload"), err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(root, "pools")))
        rc = load_pools(sc, &base, v, cat, err);
    else if (rc == 0) {
        sc->pools[0] = base;
        sc->npools = 1;
    }
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(root, "router")))
        rc = load_router(sc, v, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(root, "topology")))
        rc = load_topology(sc, v, err);
    if (rc == 0 && fu_ynode_ok(v = fu_ymap_get(root, "slo")))
        rc = load_slo(sc, v, err);
    return rc;
}

/* The value of `key` in mapping `map` when present, else the mapping: where to point. */
static fu_ynode at_key(fu_ynode map, const char *key)
{
    fu_ynode v = fu_ymap_get(map, key);
    return fu_ynode_ok(v) ? v : map;
}

/* Checks of one pool that need the model. */
static int check_pool(fs_scenario *sc, fs_pool *p, fu_ynode where, char **err)
{
    if (p->engine.max_model_len == 0)
        p->engine.max_model_len = sc->llm.max_model_len;
    if (p->accel.name[0] == '\0')
        return fail(err, fu_ynode_errf(where, "pool '%s' has no accelerator", p->name));
    if (!fm_latency_find(p->latency_model))
        return fail(err, fu_ynode_errf(at_key(where, "latency_model"),
                                       "unknown latency model '%s' in pool '%s'",
                                       p->latency_model, p->name));
    char fit[PATH_MAX];
    fu_ynode lp = at_key(where, "latency_params");
    int rc = p->latency_params[0] ? resolve_path(sc, lp, p->latency_params, fit, err) : 0;
    if (rc == 0 && p->latency_params[0] && (rc = require_file(lp, fit, "latency_params", err)) == 0)
        memcpy(p->latency_params, fit, sizeof fit);
    if (rc)
        return rc;
    if (p->engine.max_model_len > sc->llm.max_model_len)
        return fail(err, fu_ynode_errf(at_key(where, "engine"), "max_model_len %d exceeds %s's context window of %d",
                                       p->engine.max_model_len, sc->llm.name,
                                       sc->llm.max_model_len));
    return 0;
}

/* A router that disaggregates needs somewhere to prefill and somewhere to decode. */
static int check_roles(const fs_scenario *sc, fu_ynode where, char **err)
{
    int prefill = 0, decode = 0;
    for (int i = 0; i < sc->npools; i++) {
        prefill += sc->pools[i].role != FS_ROLE_DECODE;
        decode += sc->pools[i].role != FS_ROLE_PREFILL;
    }
    if (decode == 0)
        return fail(err, fu_ynode_errf(where, "no pool can decode: give one role decode or both"));
    if (prefill == 0)
        return fail(err, fu_ynode_errf(where, "no pool can prefill: give one role prefill or both"));
    return 0;
}

/* Checks that need several sections at once; then the top-level fields mirror the
 * first pool, for code that reads one replica shape. */
static int cross_check(fs_scenario *sc, fu_ynode root, char **err)
{
    fu_ynode pools = fu_ymap_get(root, "pools");
    for (int i = 0; i < sc->npools; i++) {
        fu_ynode where = fu_ynode_ok(pools) ? fu_yseq_item(pools, (size_t)i) : root;
        int rc = check_pool(sc, &sc->pools[i], where, err);
        if (rc)
            return rc;
    }
    int rc = check_roles(sc, fu_ynode_ok(pools) ? pools : root, err);
    const fs_pool *p = &sc->pools[0];
    sc->accel = p->accel;
    sc->tp = p->tp;
    sc->replicas = p->replicas;
    snprintf(sc->latency_model, sizeof sc->latency_model, "%s", p->latency_model);
    memcpy(sc->latency_params, p->latency_params, sizeof sc->latency_params);
    sc->engine = p->engine;
    sc->gpu_memory_utilization = p->gpu_memory_utilization;
    sc->num_gpu_blocks_override = p->num_gpu_blocks_override;
    return rc;
}

int fs_scenario_accelerators(const fs_scenario *sc)
{
    int n = 0;
    for (int i = 0; i < sc->npools; i++)
        n += sc->pools[i].tp * sc->pools[i].replicas;
    return n;
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
    return fs_scenario_load_text(path, NULL, cat, out, err);
}

int fs_scenario_load_text(const char *path, const char *text, const fm_catalog *cat,
                          fs_scenario *out, char **err)
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
    default_name(sc, path);
    if (text && !(sc->text = strdup(text)))
        fail(err, fu_asprintf("%s: out of memory", path));
    else if (!text && !(sc->text = read_text(path, err)))
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
