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

typedef struct fs_scenario {
    char name[64];
    char path[PATH_MAX];           /* the file it came from */
    char *text;                    /* the file's full text (for results and hashing) */
    uint64_t seed;

    fm_accel accel;
    fm_llm llm;
    int tp;                        /* accelerators per replica (tensor parallel) */
    int replicas;
    char latency_model[32];        /* "roofline" */

    fs_engine_config engine;       /* num_blocks is filled in by the run from fm_kv_size */
    double gpu_memory_utilization;
    int64_t num_gpu_blocks_override; /* 0 = size from memory */

    ft_spec workload;              /* generator or trace (+ transforms), from traces/ */

    fs_slo slo;
} fs_scenario;

/*
 * Loads and validates `path`, resolving catalogue names against `cat`. On failure *sc
 * is left zeroed (nothing to free).
 */
int fs_scenario_load(const char *path, const fm_catalog *cat, fs_scenario *sc, char **err);
/* Releases what fs_scenario_load allocated; accepts a zeroed scenario. */
void fs_scenario_free(fs_scenario *sc);

/* Opens the scenario's workload source. */
int fs_scenario_open_workload(const fs_scenario *sc, ft_source **out, char **err);

#endif
