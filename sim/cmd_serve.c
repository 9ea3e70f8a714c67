/*
 * cmd_serve.c: `fleetsim serve`, an emulated vLLM model server. The simulator's engine
 * (sim/engine.h: continuous batching, paged KV blocks, prefix cache, preemption) is
 * stepped in real time, each step lasting what the latency model predicts for the
 * chosen accelerator, model and TP (divided by --speed), and its tokens are streamed
 * to HTTP clients. For testing routers and gateways without GPUs.
 *
 * Speaks what a router needs of vLLM: /v1/completions and /v1/chat/completions (streamed
 * as server-sent events or not), /v1/models, /health, /metrics with vLLM's names
 * (vllm:num_requests_waiting/running, vllm:kv_cache_usage_perc, vllm:cache_config_info)
 * and kv_transfer_params for P/D: a request with do_remote_decode computes its prompt and
 * one token and answers with parameters naming this server; one with do_remote_prefill
 * starts with its prompt's KV present (the transfer itself takes no time here).
 *
 * Prompts are not tokenised: as in llm-d's "estimate" tokenizer, 4 bytes of text make a
 * token (chat messages as their compact JSON), and each 64-byte block of text becomes a
 * segment whose content id chains the hashes of the blocks before it, so prompts that
 * share a text prefix share KV blocks in the prefix cache. Outputs are max_tokens tokens
 * (default 16), like ignore_eos. The engine has no abort: a request whose client leaves
 * keeps its place and finishes unseen (vLLM would free it at once).
 *
 * Workload assumed: one process per emulated replica, up to a few hundred requests in
 * flight, listening on loopback or in a pod; --lifetime bounds it for tests.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <xxhash.h>

#include "cmd.h"
#include "engine.h"
#include "fm_latency.h"
#include "fm_models.h"
#include "fu_file.h"

#define SV_BLOCK_BYTES 64 /* 16 pseudo-tokens of 4 bytes: one segment */

typedef struct sv_server sv_server;

typedef struct sv_req {
    fs_engine_req er;            /* embedded; er.user = this */
    sv_server *s;
    struct evhttp_request *client; /* NULL once the client has left or been answered */
    struct sv_req *prev, *next;  /* live list (freed at exit if unfinished) */
    ft_segment *segs;
    bool stream, chat, remote_decode;
} sv_req;

struct sv_server {
    struct event_base *base;
    struct evhttp *http;
    fs_engine *eng;
    fm_latency *lat;
    double speed;
    int64_t real0;
    fs_ns step_end;
    bool stepping;
    struct event *step_ev, *life_ev, *term_ev;
    uint64_t next_id, requests, rejected;
    const char *name, *model;
    char host[64];
    int port;
    int block_size;
    int64_t num_blocks;
    sv_req *live;
};

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Emulated time: real time since start x speed, never before the last step's end. */
static fs_ns sv_now(sv_server *s)
{
    fs_ns t = (fs_ns)((double)(mono_ns() - s->real0) * s->speed);
    /* (an idle engine starts its next step at the arrival: the real clock) */
    return t > s->step_end ? t : s->step_end;
}

static void sv_unlink(sv_req *q)
{
    sv_server *s = q->s;
    if (q->prev)
        q->prev->next = q->next;
    else
        s->live = q->next;
    if (q->next)
        q->next->prev = q->prev;
}

static void sv_req_free(sv_req *q)
{
    free(q->segs);
    free(q);
}

/* ------------------------------------------------------------------ replies */

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    struct evbuffer *b = evbuffer_new();
    if (b && txt)
        evbuffer_add_printf(b, "%s\n", txt);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", b);
    if (b)
        evbuffer_free(b);
    free(txt);
    json_decref(j);
}

static void send_error(struct evhttp_request *req, int code, const char *msg)
{
    send_json(req, code, json_pack("{s:{s:s,s:s,s:i}}", "error", "message", msg, "type",
                                   "invalid_request_error", "code", code));
}

static void client_forget(sv_req *q)
{
    if (!q->client)
        return;
    struct evhttp_connection *c = evhttp_request_get_connection(q->client);
    if (c)
        evhttp_connection_set_closecb(c, NULL, NULL);
}

static void on_client_close(struct evhttp_connection *c, void *arg)
{
    sv_req *q = arg;
    if (q->client && evhttp_request_get_connection(q->client) == NULL)
        evhttp_send_reply_end(q->client); /* frees the detached request */
    q->client = NULL;
}

/* One SSE event with the OpenAI chunk of token text (or the final chunk). */
static void sse_chunk(sv_req *q, const char *text, const char *finish)
{
    json_t *ch = q->chat
        ? json_pack("{s:i,s:{s:s},s:s?}", "index", 0, "delta", "content", text,
                    "finish_reason", finish)
        : json_pack("{s:i,s:s,s:s?}", "index", 0, "text", text, "finish_reason", finish);
    json_t *j = json_pack("{s:s,s:s,s:s,s:[o]}", "id", "cmpl-fleetsim", "object",
                          q->chat ? "chat.completion.chunk" : "text_completion", "model",
                          q->s->model, "choices", ch);
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    struct evbuffer *b = evbuffer_new();
    if (b && txt) {
        evbuffer_add_printf(b, "data: %s\n\n", txt);
        evhttp_send_reply_chunk(q->client, b);
    }
    if (b)
        evbuffer_free(b);
    free(txt);
    json_decref(j);
}

/* The whole answer of a non-streamed request (and the prefill leg of P/D). */
static void send_full(sv_req *q)
{
    sv_server *s = q->s;
    uint32_t n = q->er.num_output;
    char *text = malloc((size_t)n * 4 + 1);
    for (uint32_t i = 0; text && i < n; i++)
        memcpy(text + 4 * i, " tok", 4);
    if (text)
        text[(size_t)n * 4] = '\0';
    json_t *ch = q->chat
        ? json_pack("{s:i,s:{s:s,s:s},s:s}", "index", 0, "message", "role", "assistant",
                    "content", text ? text : "", "finish_reason", "length")
        : json_pack("{s:i,s:s,s:s}", "index", 0, "text", text ? text : "", "finish_reason",
                    "length");
    json_t *j = json_pack("{s:s,s:s,s:s,s:[o],s:{s:i,s:i,s:i}}", "id", "cmpl-fleetsim",
                          "object", q->chat ? "chat.completion" : "text_completion", "model",
                          s->model, "choices", ch, "usage", "prompt_tokens",
                          (int)q->er.prompt_len, "completion_tokens", (int)n,
                          "total_tokens", (int)(q->er.prompt_len + n));
    if (j && q->remote_decode)
        json_object_set_new(j, "kv_transfer_params",
                            json_pack("{s:b,s:b,s:s,s:[],s:s,s:i}", "do_remote_prefill", 1,
                                      "do_remote_decode", 0, "remote_engine_id", s->name,
                                      "remote_block_ids", "remote_host", s->host,
                                      "remote_port", s->port));
    free(text);
    send_json(q->client, 200, j);
}

/* ------------------------------------------------------------------ the engine in real time */

static void on_token(void *ctx, fs_engine_req *r, fs_ns now)
{
    sv_req *q = r->user;
    if (q->client && q->stream && r->num_output < r->max_output)
        sse_chunk(q, " tok", NULL);
}

static void on_finish(void *ctx, fs_engine_req *r, fs_ns now)
{
    sv_req *q = r->user;
    if (q->client) {
        client_forget(q);
        if (q->stream) {
            sse_chunk(q, " tok", "length");
            struct evbuffer *b = evbuffer_new();
            if (b) {
                evbuffer_add_printf(b, "data: [DONE]\n\n");
                evhttp_send_reply_chunk(q->client, b);
                evbuffer_free(b);
            }
            evhttp_send_reply_end(q->client);
        } else {
            send_full(q);
        }
        q->client = NULL;
    }
    sv_unlink(q);
    sv_req_free(q);
}

/*
 * Starts the next step at emulated time `now` when the engine has work and no step is
 * in progress. Back-to-back steps start exactly where the previous one ended, and the
 * timer aims at the step's end on the real clock, so a timer that fires late (epoll
 * rounds to milliseconds) delays a token's delivery but does not stretch the emulated
 * timeline: without this, an 8B model's 6.8 ms decode steps measured ~8.9 ms.
 */
static void sv_kick_at(sv_server *s, fs_ns now)
{
    if (s->stepping || fs_engine_idle(s->eng))
        return;
    if (fs_engine_schedule(s->eng, now) == 0)
        return;
    size_t n;
    const fm_seq_work *w = fs_engine_batch(s->eng, &n);
    double t = fm_latency_step(s->lat, w, n, NULL);
    s->step_end = now + (fs_ns)(t * 1e9);
    s->stepping = true;
    double real = ((double)s->step_end / s->speed - (double)(mono_ns() - s->real0)) * 1e-9;
    if (real < 0)
        real = 0;
    struct timeval tv = {(time_t)real, (suseconds_t)((real - (time_t)real) * 1e6)};
    evtimer_add(s->step_ev, &tv);
}

static void sv_kick(sv_server *s)
{
    sv_kick_at(s, sv_now(s));
}

static void on_step(evutil_socket_t fd, short w, void *arg)
{
    sv_server *s = arg;
    s->stepping = false;
    fs_engine_complete(s->eng, s->step_end);
    sv_kick_at(s, s->step_end);
}

/* ------------------------------------------------------------------ requests */

/* The prompt as segments of 16 pseudo-tokens with chained content ids. */
static int text_segments(const char *t, size_t len, sv_req *q)
{
    size_t nseg = len ? (len + SV_BLOCK_BYTES - 1) / SV_BLOCK_BYTES : 1;
    q->segs = calloc(nseg, sizeof *q->segs);
    if (!q->segs)
        return -ENOMEM;
    uint64_t h = 0x9e3779b97f4a7c15u;
    uint32_t total = 0;
    for (size_t i = 0; i < nseg; i++) {
        size_t off = i * SV_BLOCK_BYTES, n = len - off < SV_BLOCK_BYTES ? len - off : SV_BLOCK_BYTES;
        h = XXH64(t + off, len ? n : 0, h);
        q->segs[i].content = h | 1; /* never 0 */
        q->segs[i].len = (uint32_t)(n ? (n + 3) / 4 : 1);
        total += q->segs[i].len;
    }
    q->er.segs = q->segs;
    q->er.nsegs = (uint32_t)nseg;
    q->er.prompt_len = total;
    return 0;
}

/* Reads the body into q; a message for the client on error. */
static const char *parse_body(sv_req *q, const char *p, size_t len)
{
    json_t *j = json_loadb(p, len, 0, NULL), *v;
    const char *msg = NULL;
    char *text = NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        return "expected a JSON object";
    }
    v = json_object_get(j, q->chat ? "messages" : "prompt");
    if (json_is_string(v))
        text = strdup(json_string_value(v));
    else if (json_is_array(v))
        text = json_dumps(v, JSON_COMPACT);
    json_t *mt = json_object_get(j, "max_tokens");
    if (!mt)
        mt = json_object_get(j, "max_completion_tokens");
    json_int_t max = json_is_integer(mt) ? json_integer_value(mt) : 16;
    json_t *kv = json_object_get(j, "kv_transfer_params");
    q->stream = json_is_true(json_object_get(j, "stream"));
    q->remote_decode = json_is_true(json_object_get(kv, "do_remote_decode"));
    bool remote_prefill = json_is_true(json_object_get(kv, "do_remote_prefill"));
    if (!text)
        msg = q->chat ? "\"messages\" must be an array" : "\"prompt\" must be a string";
    else if (max < 1 || max > 1000000)
        msg = "\"max_tokens\" must be a positive integer";
    else if (text_segments(text, strlen(text), q) < 0)
        msg = "out of memory";
    if (!msg) {
        q->er.max_output = q->remote_decode ? 1 : (uint32_t)max;
        if (q->remote_decode)
            q->stream = false;
        q->er.external_tokens = remote_prefill ? q->er.prompt_len - 1 : 0;
    }
    free(text);
    json_decref(j);
    return msg;
}

static void handle_infer(sv_server *s, struct evhttp_request *req, bool chat)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *p = (const char *)evbuffer_pullup(in, -1);
    sv_req *q = calloc(1, sizeof *q);
    if (!q) {
        send_error(req, 500, "out of memory");
        return;
    }
    q->s = s;
    q->chat = chat;
    const char *msg = parse_body(q, p ? p : "", p ? len : 0);
    q->er.id = ++s->next_id;
    q->er.user = q;
    if (!msg && fs_engine_add(s->eng, &q->er, sv_now(s)) < 0)
        msg = "the prompt and max_tokens do not fit this server's context or KV cache";
    if (msg) {
        s->rejected++;
        send_error(req, 400, msg);
        sv_req_free(q);
        return;
    }
    s->requests++;
    q->client = req;
    q->next = s->live;
    if (s->live)
        s->live->prev = q;
    s->live = q;
    if (q->stream) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/event-stream");
        evhttp_send_reply_start(req, 200, "OK");
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_client_close, q);
    sv_kick(s);
}

static void handle_metrics(sv_server *s, struct evhttp_request *req)
{
    fs_engine_stats st;
    fs_engine_get_stats(s->eng, &st);
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    const char *m = s->model;
    evbuffer_add_printf(b,
        "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{model_name=\"%s\"} %d\n"
        "# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"%s\"} %d\n"
        "# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{model_name=\"%s\"} %.6f\n"
        "# TYPE vllm:cache_config_info gauge\n"
        "vllm:cache_config_info{block_size=\"%d\",num_gpu_blocks=\"%lld\"} 1\n"
        "# TYPE vllm:prefix_cache_queries_total counter\n"
        "vllm:prefix_cache_queries_total{model_name=\"%s\"} %llu\n"
        "# TYPE vllm:prefix_cache_hits_total counter\n"
        "vllm:prefix_cache_hits_total{model_name=\"%s\"} %llu\n"
        "# TYPE vllm:prompt_tokens_total counter\nvllm:prompt_tokens_total{model_name=\"%s\"} %llu\n"
        "# TYPE vllm:generation_tokens_total counter\n"
        "vllm:generation_tokens_total{model_name=\"%s\"} %llu\n"
        "# TYPE vllm:num_preemptions_total counter\n"
        "vllm:num_preemptions_total{model_name=\"%s\"} %llu\n"
        "# TYPE vllm:request_success_total counter\n"
        "vllm:request_success_total{model_name=\"%s\"} %llu\n",
        m, st.running, m, st.waiting, m, st.kv_usage, s->block_size,
        (long long)s->num_blocks, m, (unsigned long long)st.prefix_queries, m,
        (unsigned long long)st.prefix_hits, m, (unsigned long long)st.prompt_tokens_computed,
        m, (unsigned long long)st.output_tokens, m, (unsigned long long)st.preemptions, m,
        (unsigned long long)st.finished);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    sv_server *s = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *p = u ? evhttp_uri_get_path(u) : NULL;
    bool post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    evhttp_add_header(evhttp_request_get_output_headers(req), "x-inference-pod", s->name);
    if (!p)
        send_error(req, 400, "bad request target");
    else if (strcmp(p, "/v1/completions") == 0 && post)
        handle_infer(s, req, false);
    else if (strcmp(p, "/v1/chat/completions") == 0 && post)
        handle_infer(s, req, true);
    else if (strcmp(p, "/metrics") == 0)
        handle_metrics(s, req);
    else if (strcmp(p, "/v1/models") == 0)
        send_json(req, 200, json_pack("{s:s,s:[{s:s,s:s,s:s}]}", "object", "list", "data",
                                      "id", s->model, "object", "model", "owned_by",
                                      "fleetsim"));
    else if (strcmp(p, "/health") == 0)
        send_json(req, 200, json_object());
    else
        send_error(req, 404, "no such path");
}

/* ------------------------------------------------------------------ setup */

typedef struct sv_opts {
    const char *listen, *port_file, *accel, *llm, *catalog, *latency, *name, *model;
    int tp, max_seqs, max_batched, max_model_len;
    double speed, lifetime, gpu_util;
} sv_opts;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: fleetsim serve [OPTIONS]\n\n"
        "An emulated vLLM server: the simulator's engine stepped in real time with the\n"
        "latency model of an accelerator and model; OpenAI API, SSE streaming, vLLM's\n"
        "/metrics, kv_transfer_params for P/D.\n\n"
        "options:\n"
        "  --listen HOST:PORT     where to serve (default 127.0.0.1:8000; port 0 = any)\n"
        "  --port-file FILE       write the port bound to FILE\n"
        "  --accel NAME           accelerator from the catalogue (default H100-SXM)\n"
        "  --llm NAME             model from the catalogue (default llama-3.1-8b)\n"
        "  --tp N                 tensor parallelism (default 1)\n"
        "  --latency KIND         latency model (default roofline)\n"
        "  --speed F              run F times faster than real time (default 1)\n"
        "  --max-num-seqs N       (default 256)   --max-num-batched-tokens N (default 8192)\n"
        "  --max-model-len N      context window (default 8192)\n"
        "  --gpu-memory-utilization F  (default 0.9)\n"
        "  --name NAME            pod name for x-inference-pod and kv_transfer_params\n"
        "  --served-model-name M  the model name clients use (default: --llm)\n"
        "  --lifetime S           exit after S seconds (default 0 = run until SIGTERM)\n"
        "  --catalog DIR          read accelerators and LLMs from DIR\n"
        "  -h, --help             show this help\n");
}

static int parse_opts(int argc, char **argv, sv_opts *o)
{
    static const struct option lo[] = {
        {"listen", 1, 0, 'l'}, {"port-file", 1, 0, 'P'}, {"accel", 1, 0, 'a'},
        {"llm", 1, 0, 'm'}, {"tp", 1, 0, 't'}, {"latency", 1, 0, 'L'}, {"speed", 1, 0, 's'},
        {"max-num-seqs", 1, 0, 'q'}, {"max-num-batched-tokens", 1, 0, 'b'},
        {"max-model-len", 1, 0, 'x'}, {"gpu-memory-utilization", 1, 0, 'g'},
        {"name", 1, 0, 'n'}, {"served-model-name", 1, 0, 'M'}, {"lifetime", 1, 0, 'T'},
        {"catalog", 1, 0, 'c'}, {"help", 0, 0, 'h'}, {0}};
    *o = (sv_opts){.listen = "127.0.0.1:8000", .accel = "H100-SXM", .llm = "llama-3.1-8b",
                   .latency = "roofline", .name = "fleetsim-serve", .tp = 1, .max_seqs = 256,
                   .max_batched = 8192, .max_model_len = 8192, .speed = 1, .gpu_util = 0.9};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'l': o->listen = optarg; break;
        case 'P': o->port_file = optarg; break;
        case 'a': o->accel = optarg; break;
        case 'm': o->llm = optarg; break;
        case 'L': o->latency = optarg; break;
        case 'n': o->name = optarg; break;
        case 'M': o->model = optarg; break;
        case 'c': o->catalog = optarg; break;
        case 't': o->tp = (int)strtol(optarg, &end, 10); break;
        case 'q': o->max_seqs = (int)strtol(optarg, &end, 10); break;
        case 'b': o->max_batched = (int)strtol(optarg, &end, 10); break;
        case 'x': o->max_model_len = (int)strtol(optarg, &end, 10); break;
        case 's': o->speed = strtod(optarg, &end); break;
        case 'g': o->gpu_util = strtod(optarg, &end); break;
        case 'T': o->lifetime = strtod(optarg, &end); break;
        case 'h': usage(stdout); exit(0);
        default: return -EINVAL;
        }
        if (end && *end) {
            fprintf(stderr, "fleetsim serve: bad number '%s'\n", optarg);
            return -EINVAL;
        }
    }
    if (optind != argc || o->tp < 1 || o->max_seqs < 1 || o->max_batched < 1 ||
        o->max_model_len < 1 || !(o->speed > 0) || o->lifetime < 0 || !(o->gpu_util > 0) ||
        o->gpu_util > 1) {
        fprintf(stderr, "fleetsim serve: bad arguments (see --help)\n");
        return -EINVAL;
    }
    if (!o->model)
        o->model = o->llm;
    return 0;
}

/* Latency model and engine from the catalogue. */
static int setup_engine(sv_server *s, const sv_opts *o)
{
    fm_catalog *cat = NULL;
    char *err = NULL;
    int rc = fm_catalog_load_dir(o->catalog ? o->catalog : fm_default_catalog_dir(), &cat, &err);
    const fm_accel *a = rc == 0 ? fm_catalog_accel(cat, o->accel) : NULL;
    const fm_llm *m = rc == 0 ? fm_catalog_llm(cat, o->llm) : NULL;
    fs_engine_config ec;
    fs_engine_config_defaults(&ec);
    ec.max_num_seqs = o->max_seqs;
    ec.max_num_batched_tokens = o->max_batched;
    ec.max_model_len = o->max_model_len;
    fm_kv_sizing kv;
    if (rc == 0 && (!a || !m)) {
        err = fu_asprintf("no %s '%s' in the catalogue", !a ? "accelerator" : "llm",
                          !a ? o->accel : o->llm);
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = fm_kv_size(a, m, o->tp, o->gpu_util, ec.block_size, ec.max_num_batched_tokens,
                        ec.max_num_seqs, &kv, &err);
    if (rc == 0)
        rc = fm_latency_new(o->latency, a, m, o->tp, &s->lat, &err);
    static const fs_engine_observer obs = {.on_token = on_token, .on_finish = on_finish};
    if (rc == 0) {
        ec.num_blocks = kv.num_blocks;
        s->num_blocks = kv.num_blocks;
        s->block_size = ec.block_size;
        rc = fs_engine_new(&ec, &obs, &s->eng, &err);
    }
    if (rc < 0)
        fprintf(stderr, "fleetsim serve: %s\n", err ? err : "out of memory");
    free(err);
    fm_catalog_free(cat);
    return rc;
}

static int write_port(const char *path, int port)
{
    char text[16];
    snprintf(text, sizeof text, "%d\n", port);
    return fu_write_file_atomic(path, text);
}

static int setup_http(sv_server *s, const sv_opts *o)
{
    const char *c = strrchr(o->listen, ':');
    char *end;
    long port = c ? strtol(c + 1, &end, 10) : -1;
    if (!c || c == o->listen || *end || port < 0 || port > 65535 ||
        (size_t)(c - o->listen) >= sizeof s->host) {
        fprintf(stderr, "fleetsim serve: --listen: expected HOST:PORT\n");
        return -EINVAL;
    }
    memcpy(s->host, o->listen, (size_t)(c - o->listen));
    s->http = evhttp_new(s->base);
    struct evhttp_bound_socket *bs = NULL;
    if (s->http) {
        evhttp_set_max_body_size(s->http, 16 << 20);
        evhttp_set_gencb(s->http, on_request, s);
        bs = evhttp_bind_socket_with_handle(s->http, s->host, (ev_uint16_t)port);
    }
    if (!bs) {
        fprintf(stderr, "fleetsim serve: cannot listen on %s\n", o->listen);
        return -EIO;
    }
    /* Tokens go out as small chunks: without TCP_NODELAY (inherited by every accepted
     * socket) Nagle holds a chunk until the previous one is acknowledged, and the
     * peer's delayed ACK makes that up to 40 ms. */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl);
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (o->port_file && write_port(o->port_file, s->port) < 0) {
        fprintf(stderr, "fleetsim serve: cannot write %s\n", o->port_file);
        return -EIO;
    }
    return 0;
}

static void on_stop(evutil_socket_t fd, short w, void *arg)
{
    event_base_loopexit(((sv_server *)arg)->base, NULL);
}

static void teardown(sv_server *s)
{
    signal(SIGTERM, SIG_IGN);
    struct event *evs[] = {s->step_ev, s->life_ev, s->term_ev};
    for (size_t i = 0; i < 3; i++)
        if (evs[i])
            event_free(evs[i]);
    if (s->http)
        evhttp_free(s->http); /* frees clients' requests still open */
    fs_engine_free(s->eng);   /* abandons requests inside: free them here */
    while (s->live) {
        sv_req *q = s->live;
        s->live = q->next;
        sv_req_free(q);
    }
    fm_latency_free(s->lat);
    if (s->base)
        event_base_free(s->base);
}

static int serve_main(int argc, char **argv)
{
    sv_opts o;
    sv_server s = {0};
    if (parse_opts(argc, argv, &o) < 0)
        return FS_EXIT_USAGE;
    signal(SIGPIPE, SIG_IGN);
    s.speed = o.speed;
    s.name = o.name;
    s.model = o.model;
    int rc = setup_engine(&s, &o);
    /* Precise timers (timerfd) rather than epoll's millisecond timeouts: steps last a
       few milliseconds. */
    struct event_config *ecfg = rc == 0 ? event_config_new() : NULL;
    if (ecfg) {
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
        s.base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    if (rc == 0 && !s.base)
        rc = -ENOMEM;
    if (rc == 0)
        rc = setup_http(&s, &o);
    if (rc == 0) {
        s.step_ev = evtimer_new(s.base, on_step, &s);
        s.term_ev = evsignal_new(s.base, SIGTERM, on_stop, &s);
        s.life_ev = evtimer_new(s.base, on_stop, &s);
        if (!s.step_ev || !s.term_ev || !s.life_ev)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        event_add(s.term_ev, NULL);
        if (o.lifetime > 0) {
            struct timeval tv = {(time_t)o.lifetime,
                                 (suseconds_t)((o.lifetime - (time_t)o.lifetime) * 1e6)};
            evtimer_add(s.life_ev, &tv);
        }
        s.real0 = mono_ns();
        fprintf(stderr, "fleetsim serve: %s on %s:%d (%s x%d %s, %lld KV blocks, speed %g)\n",
                s.name, s.host, s.port, o.llm, o.tp, o.accel, (long long)s.num_blocks, o.speed);
        event_base_dispatch(s.base);
    }
    teardown(&s);
    return rc == 0 ? FS_EXIT_OK : rc == -EINVAL ? FS_EXIT_USAGE : FS_EXIT_CHECK;
}

const fs_cmd fs_cmd_serve = {"serve", "emulated vLLM server driven by the engine in real time",
                             serve_main};
