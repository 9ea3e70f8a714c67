/*
 * fuzz_policy.c: libFuzzer target for libfleetpolicy: an EndpointPickerConfig text
 * loaded, then driven as a router drives it.
 *
 * The input is the config text. One that loads gets five endpoints (prefill, decode,
 * both, and unlabelled), metrics drawn from the input's bytes, and a short life: picks
 * of prompts cut from the input (text, tokens and segments, some sharing a prefix,
 * some with session headers), first tokens, ends, KV stored/removed events, an
 * endpoint removed and added back. The target checks what fleetpolicy.h promises: a
 * failed load or pick says why and leaves nothing behind; a pick names endpoints that
 * are in the pool; a run's targets are among its scored candidates; scores are finite.
 * Any crash, leak, sanitizer report or broken promise is a finding.
 *
 * Built by `make fuzz` with clang -fsanitize=fuzzer; the corpus in fuzz/corpus/policy
 * is replayed by tests/test_fuzz_corpus in `make check`, which includes this file with
 * FUZZ_POLICY_ENTRY renamed.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleetpolicy.h"
#include "fuzz_util.h"

#ifndef FUZZ_POLICY_ENTRY
#define FUZZ_POLICY_ENTRY LLVMFuzzerTestOneInput
#endif

#define FZ_EPS 5


/* A pick's promises about the pool of n ids in `live`. */
static void fz_check_result(const fp_result *r, const int *live)
{
    FUZZ_REQUIRE(r->decode < FZ_EPS && live[r->decode], "decode is an endpoint of the pool", NULL);
    FUZZ_REQUIRE(r->prefill == -1 || (r->prefill >= 0 && r->prefill < FZ_EPS && live[r->prefill]),
                 "prefill is -1 or an endpoint of the pool", NULL);
    FUZZ_REQUIRE(r->decode_address != NULL, "a pick has a decode address", NULL);
    FUZZ_REQUIRE((r->prefill == -1) == (r->prefill_address == NULL),
                 "a prefill address exactly when disaggregated", NULL);
    for (size_t i = 0; i < r->nruns; i++) {
        const fp_profile_run *run = &r->runs[i];
        for (size_t j = 0; j < run->nscored; j++) {
            FUZZ_REQUIRE(isfinite(run->scored[j].score), "scores are finite", run->profile);
            FUZZ_REQUIRE(run->scored[j].id < FZ_EPS && live[run->scored[j].id],
                         "scored candidates are endpoints of the pool", run->profile);
        }
        for (size_t t = 0; t < run->ntargets; t++) {
            int found = 0;
            for (size_t j = 0; j < run->nscored; j++)
                found |= run->scored[j].id == run->targets[t];
            FUZZ_REQUIRE(found, "targets are among the scored candidates", run->profile);
        }
    }
}

/* Byte i of the input, cycling (0 when empty). */
static uint8_t fz_byte(const uint8_t *d, size_t n, size_t i)
{
    return n ? d[i % n] : 0;
}

int FUZZ_POLICY_ENTRY(const uint8_t *data, size_t size)
{
    fp_policy *p = NULL;
    char *err = NULL;
    if (fp_policy_load_string("fuzz", (const char *)data, size, &p, &err)) {
        FUZZ_REQUIRE(p == NULL, "a failed load leaves no policy", NULL);
        FUZZ_REQUIRE(err && *err, "a failed load says why", NULL);
        free(err);
        return 0;
    }
    FUZZ_REQUIRE(p != NULL && err == NULL, "a load that succeeds gives a policy and no error",
                 err);

    static const char *const roles[FZ_EPS] = { "prefill", "decode", "both", NULL, "decode" };
    uint32_t ids[FZ_EPS];
    int live[FZ_EPS] = { 0 };
    for (int i = 0; i < FZ_EPS; i++) {
        char name[16];
        snprintf(name, sizeof name, "ns/pod-%d", i);
        fp_label labels[2] = { { "llm-d.ai/role", roles[i] },
                               { "app", i & 1 ? "chat" : "batch" } };
        fp_endpoint_desc d = { name, NULL, roles[i] ? labels : labels + 1, roles[i] ? 2 : 1 };
        int rc = fp_endpoint_add(p, &d, &ids[i], &err);
        FUZZ_REQUIRE(rc == 0 && ids[i] < FZ_EPS, "five distinct endpoints are added", err);
        live[ids[i]] = 1;
        uint8_t b = fz_byte(data, size, (size_t)i * 7);
        fp_metrics m = { b & 7, (b >> 3) & 7, (b & 15) / 15.0, i == 2 ? 0 : 16,
                         i == 2 ? 0 : 64 + b, 0 };
        fp_endpoint_update(p, ids[i], &m);
    }

    fp_rng rng;
    fp_rng_seed(&rng, size);
    uint32_t tokens[256];
    for (size_t i = 0; i < 256; i++)
        tokens[i] = fz_byte(data, size, i) | (uint32_t)fz_byte(data, size, i + 1) << 8;
    fp_segment segs[2] = { { 7, 100 + fz_byte(data, size, 3) },
                           { size, 1 + fz_byte(data, size, 5) } };
    fp_header hdr[2] = { { "x-session-token", NULL }, { "EPP-Profile", "decode" } };
    char token[128] = "";

    for (uint64_t id = 1; id <= 12; id++) {
        fp_request r = { .id = id, .model = id % 3 ? "m" : NULL,
                         .cache_salt = id == 5 ? "s" : NULL };
        switch (id % 4) {
        case 0: r.text = (const char *)data; r.text_len = size > 4096 ? 4096 : size; break;
        case 1: r.tokens = tokens; r.ntokens = 1 + (id * 37) % 256; break;
        case 2: r.segs = segs; r.nsegs = 1 + id % 2; break;
        default: break;   /* no prompt: valid, matches no prefix */
        }
        r.max_tokens = (uint32_t)(id * 13 % 7);
        if (id > 6 && token[0]) {
            hdr[0].value = token;
            r.headers = hdr;
            r.nheaders = 2;
        }
        fp_result res;
        int rc = fp_pick(p, &r, (int64_t)id * 1000000, &rng, &res, &err);
        if (rc) {
            FUZZ_REQUIRE(rc == -ENOENT || rc == -ENOMEM, "a pick fails with -ENOENT or -ENOMEM",
                         err);
            FUZZ_REQUIRE(err && *err, "a failed pick says why", NULL);
            FUZZ_REQUIRE(res.prefill == -1 && res.nruns == 0, "a failed pick clears its result",
                         err);
            free(err);
            err = NULL;
            continue;
        }
        fz_check_result(&res, live);
        uint32_t decode = res.decode;
        FUZZ_REQUIRE(fp_pick(p, &r, 0, &rng, &res, &err) == -EEXIST,
                     "an id in flight is refused", NULL);
        free(err);
        err = NULL;
        fp_session_token(p, decode, token, sizeof token);
        if (id % 2)
            fp_request_first_token(p, id, (int64_t)id * 2000000);
        if (id % 3 == 0)
            FUZZ_REQUIRE(fp_request_end(p, id, (int64_t)id * 3000000) == 0, "an end of a pick",
                         NULL);
        uint64_t keys[4] = { id, id + 1, id + 2, size };
        fp_tier tier = id & 1 ? FP_TIER_CPU : FP_TIER_GPU;
        if (fp_kv_stored(p, decode, keys, 4, tier) == 0 && id % 5 == 0)
            fp_kv_removed(p, decode, keys + 1, 2, FP_TIER_GPU);
        if (id == 8) {
            fp_kv_cleared(p, decode);
            fp_endpoint_remove(p, ids[1]);
            live[ids[1]] = 0;
        }
        if (id == 10) {
            fp_endpoint_desc d = { "ns/pod-1", "10.0.0.1:8000", NULL, 0 };
            FUZZ_REQUIRE(fp_endpoint_add(p, &d, &ids[1], &err) == 0,
                         "a removed name is added back", err);
            live[ids[1]] = 1;
        }
    }
    FUZZ_REQUIRE(fp_request_end(p, 999, 0) == -ENOENT, "an unknown end is ignored", NULL);
    for (uint64_t id = 1; id <= 12; id++)
        fp_request_end(p, id, 50000000);
    for (int i = 0; i < FZ_EPS; i++)
        if (live[ids[i]]) {
            fp_endpoint_state st;
            fp_endpoint_get(p, ids[i], &st);
            FUZZ_REQUIRE(st.inflight_requests == 0 && st.inflight_tokens == 0,
                         "every request ended leaves nothing in flight", st.name);
        }
    fp_policy_free(p);
    return 0;
}
