/*
 * fuzz_readers.c: libFuzzer target for the trace readers of libfleettraces.
 *
 * The first input byte picks the format (auto, azure, burstgpt, mooncake, csv), the
 * bad-row policy and the zero-token policy; the rest is the file. The target reads
 * every request and checks what every reader promises (arrivals in order, segment
 * lengths adding up to input_tokens, at least one output token, a message with every
 * error), then replays the same bytes through statistics and through the transforms
 * (window, repetition) that reopen the input. Any crash, leak, sanitizer report or
 * broken promise is a finding.
 *
 * Built by `make fuzz-traces` with clang -fsanitize=fuzzer; the corpus in
 * fuzz/corpus/readers is replayed by tests/test_traces_corpus in `make check`, which
 * includes this file with FUZZ_READERS_ENTRY renamed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ft_workload.h"

#ifndef FUZZ_READERS_ENTRY
#define FUZZ_READERS_ENTRY LLVMFuzzerTestOneInput
#endif

typedef struct fz_input {
    const uint8_t *data;
    size_t size;
    ft_trace_opts o;
} fz_input;

static int fz_open(void *ctx, ft_source **out, char **err)
{
    const fz_input *in = ctx;
    FILE *f = in->size ? fmemopen((void *)in->data, in->size, "rb") : fopen("/dev/null", "rb");
    if (!f)
        return -1;
    return ft_trace_fopen(f, "fuzz", &in->o, out, err);
}

static void fz_check(const ft_request *r, int64_t *prev, int ordered)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < r->nsegs; i++)
        sum += r->segs[i].len;
    if (sum != r->input_tokens || r->output_tokens < 1 || r->arrival_ns < 0 ||
        (ordered && r->arrival_ns < *prev))
        abort();
    *prev = r->arrival_ns;
}

/* Reads everything; every failure must come with a message. */
static void fz_drain(ft_source *s, int ordered)
{
    ft_request r;
    char *err = NULL;
    int64_t prev = 0;
    int rc;
    long n = 0;
    while ((rc = ft_source_next(s, &r, &err)) == 1 && n++ < 100000)
        fz_check(&r, &prev, ordered);
    if (rc < 0 && !err)
        abort();
    free(err);
    ft_source_info info;
    ft_source_get_info(s, &info);
    if (info.skipped && !info.first_skipped)
        abort();
}

int FUZZ_READERS_ENTRY(const uint8_t *data, size_t size);

int FUZZ_READERS_ENTRY(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz_input in = { data + 1, size - 1, { .format = (ft_format)(data[0] % 5) } };
    in.o.skip_bad_rows = data[0] & 0x08;
    in.o.zeros = (ft_zero_policy)((data[0] >> 4) & 3);
    ft_source *s = NULL;
    char *err = NULL;
    if (fz_open(&in, &s, &err) == 0) {
        fz_drain(s, 1);
        ft_source_free(s);
    } else if (!err) {
        abort();
    }
    free(err);
    err = NULL;
    if (fz_open(&in, &s, &err) == 0) {                  /* statistics */
        ft_stats st;
        ft_stats_opts so = { .prefix_block = 16u << (data[0] >> 6), .prefix = 1 };
        if (ft_stats_compute(s, &so, &st, &err) != 0 && !err)
            abort();
        ft_source_free(s);
    }
    free(err);
    err = NULL;
    ft_transforms t = { .window_start_ns = 1000, .repeat = 2, .start_at_zero = 1,
                        .speed = 1.5, .limit = 5000 };
    if (ft_transform_open(&t, fz_open, &in, NULL, &s, &err) == 0) {
        fz_drain(s, 1);
        ft_source_free(s);
    }
    free(err);
    return 0;
}
