/*
 * rt.h: internals of fleetsim-router shared between its files (not installed).
 *
 * The parsers here are pure functions of their input (no sockets, no clock) so that
 * tests/test_router.c can drive them with hostile input: Prometheus text scraped from a
 * model server, an OpenAI request body, and the endpoints file. Workload assumed:
 * /metrics pages of a few kB scraped every 50 ms per endpoint; request bodies up to the
 * router's body limit (1 MiB by default).
 *
 * Ownership: outputs that allocate say so; errors are 0 or a negative errno with a
 * malloc'd message through `char **err` (NULL to ignore).
 */
#ifndef RT_H
#define RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "fleetpolicy.h"

/*
 * Reads vLLM's load metrics from a Prometheus text page: vllm:num_requests_waiting,
 * vllm:num_requests_running, vllm:kv_cache_usage_perc (or the older
 * vllm:gpu_cache_usage_perc) and the labels block_size / num_gpu_blocks of
 * vllm:cache_config_info. Series of several engines (labels) are summed for the queue
 * counts and averaged for KV usage. Fills *m (updated_ns untouched) and returns 0, or
 * -EINVAL when the page holds neither queue metric or a value does not parse.
 */
int rt_prom_parse(const char *text, size_t len, fp_metrics *m, char **err);

/* What the router reads from an OpenAI request body. */
typedef struct rt_body {
    json_t *root;          /* owned: the parsed body (an object) */
    const char *model;     /* points into root; "" when absent */
    const char *cache_salt;/* points into root, or NULL */
    char *text;            /* owned: prompt text as llm-d's estimate backend hashes it
                              (completion prompt, or the chat messages as compact JSON) */
    size_t text_len;
    bool stream;
    uint32_t max_tokens;   /* 0 = absent */
} rt_body;

/*
 * Parses a /v1/completions (chat == false) or /v1/chat/completions body. Returns 0 and
 * fills *b (free with rt_body_free), or -EINVAL with a message saying what is wrong
 * (not JSON, not an object, prompt/messages missing or of the wrong type, bad
 * max_tokens or stream) and leaves *b empty.
 */
int rt_body_parse(const char *buf, size_t len, bool chat, rt_body *b, char **err);
/* Frees what rt_body_parse allocated; accepts an empty body. */
void rt_body_free(rt_body *b);

/* One entry of the endpoints file. */
typedef struct rt_epdesc {
    char *name;
    char *address;         /* "host:port" */
    char *host;
    uint16_t port;
    fp_label *labels;      /* keys and values malloc'd */
    size_t nlabels;
} rt_epdesc;

/*
 * Loads the endpoints file: a YAML sequence of mappings {name, address: "host:port",
 * labels: {key: value}}. Returns 0 with a malloc'd array in *out (free with
 * rt_epdesc_free), or -EINVAL/-ENOENT/-EIO with "file:line:col: ..." in *err.
 * Duplicate names are an error.
 */
int rt_endpoints_load(const char *path, rt_epdesc **out, size_t *n, char **err);
void rt_epdesc_free(rt_epdesc *d, size_t n);

/* Splits "host:port" (port 1..65535) into a malloc'd host; -EINVAL otherwise. */
int rt_split_hostport(const char *addr, char **host, uint16_t *port);

#endif
