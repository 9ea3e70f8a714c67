/*
 * test_traces_corpus.c: replays the fuzzing corpus of the trace readers and of
 * workload specs (fuzz/corpus/readers, fuzz/corpus/spec) through the fuzz targets,
 * so every input the fuzzer ever kept (and every crash it found, once fixed) runs in
 * `make check`, under the sanitizers in CI. The targets abort on a broken promise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#define FUZZ_READERS_ENTRY fuzz_readers_one
#define FUZZ_SPEC_ENTRY fuzz_spec_one
#define FUZZ_DATA_DIR TOP_SRCDIR "/tests/data"
#include "../fuzz/fuzz_readers.c"
#include "../fuzz/fuzz_spec.c"

#include "corpus_replay.h"

static const corpus_case readers = { "readers", fuzz_readers_one, 10 },
                         spec = { "spec", fuzz_spec_one, 5 };

int main(void)
{
    const struct CMUnitTest tests[] = { CORPUS_TEST(&readers), CORPUS_TEST(&spec) };
    return cmocka_run_group_tests_name("trace fuzz corpus", tests, NULL, NULL);
}
