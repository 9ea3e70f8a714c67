/*
 * scenario.h: a scenario file, loaded and validated.
 *
 * A scenario is a YAML file that says what to simulate: the model and accelerator
 * (catalogue names, overrides of any field, inline definitions, or a Hugging Face
 * config.json), tensor parallelism and replicas, the engine's parameters, the workload
 * (a generator or a trace), SLOs and the seed. Loading checks everything before a run
 * starts: an unknown key, a wrong type, an out-of-range number or a missing file is an
 * error naming file:line:column and what was expected. Relative paths inside a scenario
 * are relative to the scenario file's directory. scenarios/README.md documents every
 * key.
 *
 * Ownership: fs_scenario is a plain value except `text` and the workload spec's storage,
 * which fs_scenario_free() releases. Errors: 0 or negative errno with a malloc'd message in *err.
 */
#ifndef FS_SCENARIO_H
#define FS_SCENARIO_H

#include <limits.h>
#include <stdint.h>

#include "engine.h"
#include "fm_models.h"
#include "ft_spec.h"
#include "ft_workload.h"
#include "metrics.h"

#define FS_MAX_POOLS 16
#define FS_MAX_LABELS 8

/* What a pool's replicas do, as llm-d's `llm-d.ai/role` label says. */
typedef enum fs_role { FS_ROLE_BOTH, FS_ROLE_PREFILL, FS_ROLE_DECODE } fs_role;

typedef struct fs_label {
    char key[64];
    char value[64];
} fs_label;

/* A pool: identical replicas of the scenario's model on one kind of accelerator. */
typedef struct fs_pool {
    char name[32];
    fs_role role;
    fm_accel accel;
    int tp;                        /* accelerators per replica */
    int replicas;
    char latency_model[32];
    char latency_params[PATH_MAX]; /* its fit file (fleetsim calibrate), resolved; "" = none */
    fs_engine_config engine;       /* num_blocks is filled in by the run */
    double gpu_memory_utilization;
    int64_t num_gpu_blocks_override; /* 0 = size from memory */
    fs_label labels[FS_MAX_LABELS]; /* besides llm-d.ai/role, which follows `role` */
    int nlabels;
    uint64_t class_mask;           /* request classes it serves (bit i = class i; 0 = all) */
} fs_pool;

/* How requests are routed to replicas: libfleetpolicy, as llm-d's Endpoint Picker. */
typedef struct fs_router_spec {
    char policy[48];               /* a built-in policy (fp_builtin_names): "default",
                                      "round-robin", "random", "pd", ... */
    char config_path[PATH_MAX];    /* an EndpointPickerConfig file; overrides policy */
    int64_t refresh_ns;            /* endpoint snapshot period (llm-d: 50 ms) */
    int64_t kv_transfer_overhead_ns; /* fixed cost of one P/D KV transfer besides the link */
} fs_router_spec;

/*
 * Where replicas sit beyond their node: nodes are grouped into racks of
 * `nodes_per_rack` (0 = one rack holds every node). Transfers between nodes of one rack
 * cross the leaf switch at the NIC's speed; transfers between racks cross the spine,
 * whose share per accelerator is the NIC's bandwidth / `oversubscription`, and take
 * `cross_rack_latency_ns` more.
 */
typedef struct fs_topology {
    int nodes_per_rack;
    double oversubscription;       /* >= 1; 1 = a non-blocking spine */
    int64_t cross_rack_latency_ns; /* added to the NIC's base latency across racks */
} fs_topology;

typedef struct fs_scenario {
    char name[64];
    char path[PATH_MAX];           /* the file it came from */
    char *text;                    /* the file's full text (for results and hashing) */
    uint64_t seed;

    fm_llm llm;                    /* the model every pool serves */

    /* The top-level accelerator, tp, replicas, engine and latency_model: the defaults
     * every pool starts from, and the only pool when the scenario has no `pools:`. */
    fm_accel accel;
    int tp;                        /* accelerators per replica (tensor parallel) */
    int replicas;
    char latency_model[32];        /* "roofline" */
    char latency_params[PATH_MAX]; /* fit file of the latency model, resolved; "" = none */
    fs_engine_config engine;       /* num_blocks is filled in by the run from fm_kv_size */
    double gpu_memory_utilization;
    int64_t num_gpu_blocks_override; /* 0 = size from memory */

    fs_pool pools[FS_MAX_POOLS];   /* resolved: always at least one */
    int npools;
    fs_router_spec router;
    fs_topology topology;

    ft_spec workload;              /* generator or trace (+ transforms), from traces/ */

    fs_slo slo;
} fs_scenario;

/*
 * Loads and validates `path`, resolving catalogue names against `cat`. On failure *sc
 * is left zeroed (nothing to free).
 */
int fs_scenario_load(const char *path, const fm_catalog *cat, fs_scenario *sc, char **err);
/*
 * The same from `text` instead of the file's contents (a scenario with overrides
 * applied, sim/overrides.h): `path` still names it in messages and anchors its
 * relative paths, and sc->text is a copy of `text`. `text` NULL reads the file.
 */
int fs_scenario_load_text(const char *path, const char *text, const fm_catalog *cat,
                          fs_scenario *out, char **err);
/* Releases what fs_scenario_load allocated; accepts a zeroed scenario. */
void fs_scenario_free(fs_scenario *sc);

/* Accelerators over all pools. */
int fs_scenario_accelerators(const fs_scenario *sc);
/* "both", "prefill" or "decode". */
const char *fs_role_name(fs_role r);

/* Opens the scenario's workload source. */
int fs_scenario_open_workload(const fs_scenario *sc, ft_source **out, char **err);

#endif
