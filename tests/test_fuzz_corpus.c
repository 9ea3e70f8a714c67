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

static void test_policy_corpus(void **state)
{
    (void)state;
    size_t n = replay(TOP_SRCDIR "/fuzz/corpus/policy", fuzz_policy_one);
    print_message("# replayed %zu policy inputs\n", n);
    assert_true(n >= 20);
}

static void test_router_corpus(void **state)
{
    (void)state;
    size_t n = replay(TOP_SRCDIR "/fuzz/corpus/router", fuzz_router_one);
    print_message("# replayed %zu router inputs\n", n);
    assert_true(n >= 10);
}

static void test_models_corpus(void **state)
{
    (void)state;
    size_t n = replay(TOP_SRCDIR "/fuzz/corpus/models", fuzz_models_one);
    print_message("# replayed %zu models inputs\n", n);
    assert_true(n >= 10);
}

static void test_scenario_corpus(void **state)
{
    (void)state;
    size_t n = replay(TOP_SRCDIR "/fuzz/corpus/scenario", fuzz_scenario_one);
    print_message("# replayed %zu scenario inputs\n", n);
    assert_true(n >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_corpus),
        cmocka_unit_test(test_router_corpus),
        cmocka_unit_test(test_models_corpus),
        cmocka_unit_test(test_scenario_corpus),
    };
    return cmocka_run_group_tests_name("policy, router, models and scenario fuzz corpus", tests,
                                       NULL, NULL);
}
