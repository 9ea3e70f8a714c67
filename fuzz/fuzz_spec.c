/*
 * fuzz_spec.c: libFuzzer target for workload specs (a scenario's `workload:` section).
 *
 * The input is YAML text read as a workload mapping (paths resolve against
 * tests/data, so specs can name the fixtures); a spec that loads is opened and up to
 * 200 requests are drawn, checking the same promises as fuzz_readers.c. Bad specs
 * must fail with a message, never crash or leak.
 *
 * Built by `make fuzz-traces`; its corpus in fuzz/corpus/spec is replayed by
 * tests/test_traces_corpus, which includes this file with FUZZ_SPEC_ENTRY renamed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_spec.h"
#include "fu_yaml.h"

#ifndef FUZZ_SPEC_ENTRY
#define FUZZ_SPEC_ENTRY LLVMFuzzerTestOneInput
#endif
#ifndef FUZZ_DATA_DIR
#define FUZZ_DATA_DIR "tests/data"
#endif

static void fs_draw(const ft_spec *spec)
{
    ft_source *s = NULL;
    char *err = NULL;
    if (ft_spec_open(spec, &s, &err) != 0) {
        if (!err)
            abort();
        free(err);
        return;
    }
    ft_request r;
    int64_t prev = 0;
    int rc, n = 0;
    while (n++ < 200 && (rc = ft_source_next(s, &r, &err)) == 1) {
        uint64_t sum = 0;
        for (uint32_t i = 0; i < r.nsegs; i++)
            sum += r.segs[i].len;
        if (sum != r.input_tokens || r.output_tokens < 1 || r.arrival_ns < prev)
            abort();
        prev = r.arrival_ns;
    }
    free(err);
    ft_source_free(s);
}

int FUZZ_SPEC_ENTRY(const uint8_t *data, size_t size);

int FUZZ_SPEC_ENTRY(const uint8_t *data, size_t size)
{
    fu_yaml *doc = NULL;
    char *err = NULL;
    ft_spec spec;
    if (size > 4096)                                     /* specs are small */
        return 0;
    if (fu_yaml_load_string("fuzz.yaml", (const char *)data, size, &doc, &err) == 0) {
        if (ft_spec_from_yaml(fu_yaml_root(doc), FUZZ_DATA_DIR, 1, &spec, &err) == 0) {
            fs_draw(&spec);
            ft_spec_free(&spec);
        } else if (!err) {
            abort();
        }
    }
    free(err);
    fu_yaml_free(doc);
    return 0;
}
