/*
 * test_fuzz_corpus.c: replays the fuzzing corpora of the policy library, the router's
 * parsers, hardware and model descriptions, and scenario files (fuzz/corpus/policy,
 * router, models, scenario) through their fuzz targets, so every input the fuzzer kept
 * (and every crash it found, once fixed) runs in `make check`, under the sanitizers in
 * CI. The targets abort on a broken promise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#define FUZZ_POLICY_ENTRY fuzz_policy_one
#define FUZZ_ROUTER_ENTRY fuzz_router_one
#define FUZZ_MODELS_ENTRY fuzz_models_one
#define FUZZ_SCENARIO_ENTRY fuzz_scenario_one
#define FUZZ_DATA_DIR TOP_SRCDIR "/tests/data"
#define FUZZ_CATALOG_DIR TOP_SRCDIR "/models/catalog"
int fuzz_policy_one(const uint8_t *data, size_t size);
int fuzz_router_one(const uint8_t *data, size_t size);
int fuzz_models_one(const uint8_t *data, size_t size);
int fuzz_scenario_one(const uint8_t *data, size_t size);
#include "../fuzz/fuzz_policy.c"
#include "../fuzz/fuzz_router.c"
#include "../fuzz/fuzz_models.c"
#include "../fuzz/fuzz_scenario.c"

#include "corpus_replay.h"

static const corpus_case policy = { "policy", fuzz_policy_one, 20 },
                         router = { "router", fuzz_router_one, 10 },
                         models = { "models", fuzz_models_one, 10 },
                         scenario = { "scenario", fuzz_scenario_one, 20 };

int main(void)
{
    const struct CMUnitTest tests[] = {
        CORPUS_TEST(&policy), CORPUS_TEST(&router), CORPUS_TEST(&models), CORPUS_TEST(&scenario),
    };
    return cmocka_run_group_tests_name("policy, router, models and scenario fuzz corpus", tests,
                                       NULL, NULL);
}
