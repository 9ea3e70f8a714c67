/*
 * fuzz_router.c: libFuzzer target for fleetsim-router's parsers of untrusted text
 * (router/rt_parse.c): Prometheus pages scraped from model servers, OpenAI
 * /v1/completions and /v1/chat/completions bodies, and "host:port" addresses.
 *
 * The first input byte picks the parser; the rest is the text, not NUL-terminated (a
 * scrape or a body arrives as bytes with a length). The target checks what rt.h
 * promises: a failure says why and leaves the body empty; a parsed page has counts
 * that are not negative and KV usage in [0, 1]; a parsed body has a prompt text and a
 * model string; a split address has a port in 1..65535. A parsed body's prompt is then
 * hashed as the router hashes it. Any crash, leak, sanitizer report or broken promise
 * is a finding.
 *
 * Built by `make fuzz` with clang -fsanitize=fuzzer; the corpus in fuzz/corpus/router
 * is replayed by tests/test_fuzz_corpus in `make check`, which includes this file with
 * FUZZ_ROUTER_ENTRY renamed.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "rt.h"

#ifndef FUZZ_ROUTER_ENTRY
#define FUZZ_ROUTER_ENTRY LLVMFuzzerTestOneInput
#endif


static void fzr_prom(const char *text, size_t len)
{
    fp_metrics m = { .updated_ns = 42 };
    char *err = NULL;
    if (rt_prom_parse(text, len, &m, &err)) {
        FUZZ_REQUIRE(err && *err, "a page that does not parse says why", NULL);
        free(err);
        return;
    }
    FUZZ_REQUIRE(err == NULL, "a parsed page has no error", err);
    FUZZ_REQUIRE(m.waiting >= 0 && m.running >= 0, "queue counts are not negative", NULL);
    FUZZ_REQUIRE(m.kv_usage >= 0 && m.kv_usage <= 1, "KV usage is in [0, 1]", NULL);
    FUZZ_REQUIRE(m.updated_ns == 42, "the scrape time is left alone", NULL);
}

static void fzr_body(const char *text, size_t len, bool chat)
{
    rt_body b;
    char *err = NULL;
    if (rt_body_parse(text, len, chat, &b, &err)) {
        FUZZ_REQUIRE(err && *err, "a bad body says why", NULL);
        FUZZ_REQUIRE(b.root == NULL && b.text == NULL, "a bad body leaves the result empty", err);
        free(err);
        rt_body_free(&b);
        return;
    }
    FUZZ_REQUIRE(b.root && b.text && b.model, "a parsed body has a root, a prompt and a model",
                 NULL);
    FUZZ_REQUIRE(strlen(b.text) == b.text_len, "the prompt's length is its text's", NULL);
    fp_request r = { .id = 1, .model = b.model, .cache_salt = b.cache_salt, .text = b.text,
                     .text_len = b.text_len, .max_tokens = b.max_tokens };
    uint64_t h[64];
    size_t n = fp_prefix_hashes(&r, 64, h, 64);
    FUZZ_REQUIRE(n <= 64, "prefix hashes fit the room given", NULL);
    rt_body_free(&b);
}

static void fzr_hostport(const char *text, size_t len)
{
    char *s = strndup(text, len), *host = NULL;
    uint16_t port = 0;
    FUZZ_REQUIRE(s != NULL, "memory", NULL);
    if (rt_split_hostport(s, &host, &port) == 0) {
        FUZZ_REQUIRE(host != NULL && port >= 1, "a split address has a host and a port", s);
        free(host);
    }
    free(s);
}

int FUZZ_ROUTER_ENTRY(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* a copy of exactly the text's bytes, so reading past the length is a finding */
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    FUZZ_REQUIRE(text != NULL, "memory", NULL);
    memcpy(text, data + 1, len);
    switch (data[0] % 4) {
    case 0: fzr_prom(text, len); break;
    case 1: fzr_body(text, len, false); break;
    case 2: fzr_body(text, len, true); break;
    default: fzr_hostport(text, len); break;
    }
    free(text);
    return 0;
}
