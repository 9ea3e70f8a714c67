/*
 * fuzz_scenario.c: libFuzzer target for scenario files, loaded and run.
 *
 * The input is a scenario's YAML text, read as if it were a file in tests/data (so
 * its relative paths can name the fixtures: traces, EndpointPickerConfig files, fit
 * files), against the bundled catalogue in models/catalog. A scenario that loads is sized;
 * one of at most 16 accelerators whose KV cache fits is run with its workload capped
 * at 30 requests. The target checks the loader's and the run's promises: a failure
 * says why; a run accounts for at most the requests it was given, each completed one
 * with output, cached input within the input. Any crash, leak, sanitizer report or
 * broken promise is a finding.
 *
 * Built by `make fuzz` with clang -fsanitize=fuzzer; the corpus in fuzz/corpus/scenario
 * is replayed by tests/test_fuzz_corpus in `make check`, which includes this file with
 * FUZZ_SCENARIO_ENTRY renamed.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "fuzz_util.h"
#include "scenario.h"

#ifndef FUZZ_SCENARIO_ENTRY
#define FUZZ_SCENARIO_ENTRY LLVMFuzzerTestOneInput
#endif
#ifndef FUZZ_DATA_DIR
#define FUZZ_DATA_DIR "tests/data"
#endif

#define FZS_REQUESTS 30



static void fzs_run(fs_scenario *sc)
{
    fm_kv_sizing kv;
    char *err = NULL;
    if (fs_cluster_size_kv(sc, &kv, &err) != 0) {
        FUZZ_REQUIRE(err && *err, "a model that does not fit says why", NULL);
        free(err);
        return;
    }
    if (fs_scenario_accelerators(sc) > 16)
        return;
    ft_spec_set_requests(&sc->workload, FZS_REQUESTS);
    fs_run_result res;
    if (fs_cluster_run(sc, &res, &err) != 0) {
        FUZZ_REQUIRE(err && *err, "a run that fails says why", NULL);
        free(err);
        return;
    }
    const fs_summary *s = &res.summary;
    FUZZ_REQUIRE(s->completed + s->rejected <= FZS_REQUESTS,
                 "a run accounts for at most the requests it was given", NULL);
    FUZZ_REQUIRE(s->output_tokens >= s->completed, "every completed request has output", NULL);
    FUZZ_REQUIRE(s->cached_tokens <= s->input_tokens, "cached input is part of the input", NULL);
}

int FUZZ_SCENARIO_ENTRY(const uint8_t *data, size_t size)
{
    if (size > 8192)   /* scenarios are small; long inputs only slow the search */
        return 0;
    char *text = malloc(size + 1);
    FUZZ_REQUIRE(text != NULL, "memory", NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    fs_scenario sc;
    char *err = NULL;
    if (fs_scenario_load_text(FUZZ_DATA_DIR "/fuzz.yaml", text, fuzz_catalog(), &sc, &err)) {
        FUZZ_REQUIRE(err && *err, "a scenario that does not load says why", NULL);
        free(err);
    } else {
        FUZZ_REQUIRE(err == NULL, "a scenario that loads has no error", err);
        fzs_run(&sc);
        fs_scenario_free(&sc);
    }
    free(text);
    return 0;
}
