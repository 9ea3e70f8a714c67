/*
 * cmd_replay.c: `fleetsim replay TRACE --target URL`, an open-loop HTTP load driver.
 *
 * Sends a trace's requests to an OpenAI-compatible server (a router, vLLM, `fleetsim
 * serve`) at their arrival times (divided by --speed), streamed, and measures from the
 * client side TTFT (first SSE event), TPOT ((last - first) / (events - 1)) and E2E. One
 * SSE event counts as one token, as vLLM streams them. Bounded: at most --requests
 * requests (default 1000) and --duration seconds of wall time (default 60); what is
 * still in flight at the deadline counts as unfinished.
 *
 * Prompts become text deterministically: token j of a segment with content id c is a
 * 3-letter word drawn from a hash of (c, j) plus a space (4 bytes, llm-d's estimate of
 * one token), so requests that share segments share a text prefix and a prefix-aware
 * router sees the sharing the simulator sees.
 *
 * Workload assumed: up to ~100k requests and a few thousand in flight; one connection
 * per request (Connection: close), as independent clients open them.
 *
 * The results store: given --scenario FILE (the scenario that describes the fleet under
 * test: its pools, accelerators and prices; its workload is not used), the replay is
 * stored as a run like `fleetsim run FILE` stores a simulated one, through the same
 * metrics code: per request arrival (the send time), first token, last token, output
 * tokens (SSE events) and the endpoint that served it (the router's
 * x-gateway-destination-endpoint-served header; endpoints are numbered in the order
 * they first answered), every inter-event gap as inter-token latency, and cost from the
 * scenario's prices over the replay's makespan. What the client cannot see is left out:
 * queueing is counted as 0, cached tokens as 0, energy as idle power. Failed and
 * unfinished requests count as rejected. --db, $FLEETSIM_DB, --no-db, --name, --tag and
 * --no-requests work as for `fleetsim run`; the run is tagged "replay".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "cmd.h"
#include "ft_workload.h"
#include "metrics.h"
#include "runcommon.h"

#define RP_MAX_SERVED 256

typedef struct rp_req {
    struct rp_run *run;
    int64_t arrival_ns;          /* scaled by 1/speed */
    uint32_t in, out;
    ft_segment *segs;
    uint32_t nsegs;
    struct event *ev;
    struct evhttp_request *up;   /* in flight */
    int64_t sent, first, last;   /* monotonic ns; 0 = not yet */
    uint32_t events;
    int status;                  /* HTTP status, 0 = none, -1 = connection failed */
    bool done;
    int served;                  /* index into rp_run.served, -1 = not said */
    char tail[8];                /* last bytes of the previous chunk ("data: " across chunks) */
} rp_req;

typedef struct rp_run {
    struct event_base *base;
    char host[256], path[512];
    int port;
    const char *model;
    uint64_t salt;               /* mixed into prompt text: same structure, cold caches */
    rp_req *reqs;
    size_t n, finished;
    int64_t t0;
    struct event *deadline;
    fs_metrics *metrics;         /* inter-token gaps, when the run is stored */
    char *served[RP_MAX_SERVED]; /* endpoint addresses, in the order they first answered */
    int nserved;
} rp_run;

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* The prompt text of q: 4 bytes per token (see the file comment). */
static char *prompt_text(const rp_req *q)
{
    char *t = malloc((size_t)q->in * 4 + 1), *p = t;
    if (!t)
        return NULL;
    for (uint32_t s = 0; s < q->nsegs; s++)
        for (uint32_t j = 0; j < q->segs[s].len; j++) {
            uint64_t h = mix((q->segs[s].content ^ q->run->salt) * 0x100000001b3u + j);
            *p++ = (char)('a' + h % 26);
            *p++ = (char)('a' + (h >> 8) % 26);
            *p++ = (char)('a' + (h >> 16) % 26);
            *p++ = ' ';
        }
    *p = '\0';
    return t;
}

/* ------------------------------------------------------------------ requests */

static void rp_finish(rp_req *q)
{
    if (q->done)
        return;
    q->done = true;
    q->up = NULL;
    if (++q->run->finished == q->run->n)
        event_base_loopexit(q->run->base, NULL);
}

/* The index of the endpoint that served u (the router's header), numbered in order of
   first appearance; 0 when the header is absent (a server driven directly). */
static int served_index(rp_run *r, struct evhttp_request *u)
{
    const char *a = evhttp_find_header(evhttp_request_get_input_headers(u),
                                       "x-gateway-destination-endpoint-served");
    if (!a)
        return 0;
    for (int i = 0; i < r->nserved; i++)
        if (strcmp(r->served[i], a) == 0)
            return i;
    if (r->nserved == RP_MAX_SERVED || !(r->served[r->nserved] = strdup(a)))
        return 0;
    return r->nserved++;
}

/* Counts SSE data events in what arrived ("data: " at a line start; [DONE] excluded). */
static void on_chunk(struct evhttp_request *u, void *arg)
{
    rp_req *q = arg;
    struct evbuffer *b = evhttp_request_get_input_buffer(u);
    size_t len = evbuffer_get_length(b);
    char *p = (char *)evbuffer_pullup(b, -1);
    int64_t now = mono_ns();
    if (q->served < 0)
        q->served = served_index(q->run, u);
    for (size_t i = 0; p && i + 6 <= len; i++)
        if ((i == 0 || p[i - 1] == '\n') && memcmp(p + i, "data: ", 6) == 0 &&
            !(i + 12 <= len && memcmp(p + i + 6, "[DONE]", 6) == 0)) {
            if (!q->first)
                q->first = now;
            else if (q->run->metrics)
                fs_metrics_token_gap(q->run->metrics, now - q->last);
            q->last = now;
            q->events++;
        }
    evbuffer_drain(b, len); /* an event split across two reads is rare on loopback */
}

static void on_done(struct evhttp_request *u, void *arg)
{
    rp_req *q = arg;
    q->status = u ? evhttp_request_get_response_code(u) : -1;
    if (q->status == 0)
        q->status = -1;
    if (u && q->status != 200 && !q->first)
        q->first = q->last = mono_ns(); /* non-streamed error: E2E only */
    if (q->last == 0)
        q->last = mono_ns();
    rp_finish(q);
}

static void on_arrival(evutil_socket_t fd, short w, void *arg)
{
    rp_req *q = arg;
    rp_run *r = q->run;
    char *text = prompt_text(q);
    json_t *j = text ? json_pack("{s:s,s:s,s:i,s:b,s:b}", "model", r->model, "prompt", text,
                                 "max_tokens", (int)q->out, "stream", 1, "ignore_eos", 1)
                     : NULL;
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    free(text);
    struct evhttp_connection *c = body ? evhttp_connection_base_new(r->base, NULL, r->host,
                                                                    (ev_uint16_t)r->port) : NULL;
    struct evhttp_request *u = c ? evhttp_request_new(on_done, q) : NULL;
    if (!u) {
        if (c)
            evhttp_connection_free(c);
        free(body);
        q->status = -1;
        rp_finish(q);
        return;
    }
    evhttp_connection_free_on_completion(c);
    evhttp_connection_set_timeout(c, 600);
    evhttp_request_set_chunked_cb(u, on_chunk);
    struct evkeyvalq *h = evhttp_request_get_output_headers(u);
    evhttp_add_header(h, "Host", r->host);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Connection", "close");
    evbuffer_add(evhttp_request_get_output_buffer(u), body, strlen(body));
    free(body);
    q->sent = mono_ns();
    q->up = u;
    if (evhttp_make_request(c, u, EVHTTP_REQ_POST, r->path) < 0) {
        q->up = NULL;
        q->status = -1;
        rp_finish(q);
    }
}

static void on_deadline(evutil_socket_t fd, short w, void *arg)
{
    event_base_loopexit(((rp_run *)arg)->base, NULL);
}

/* ------------------------------------------------------------------ setup and summary */

static int load_trace(rp_run *r, const char *path, const char *fmt, uint64_t max, double speed,
                      char **err)
{
    ft_trace_opts o = {.max_requests = max};
    if (fmt && ft_format_parse(fmt, &o.format) < 0) {
        *err = strdup("--format: expected azure, burstgpt, mooncake, csv or auto");
        return -EINVAL;
    }
    snprintf(o.path, sizeof o.path, "%s", path);
    ft_source *src;
    int rc = ft_trace_open(&o, &src, err);
    if (rc < 0)
        return rc;
    r->reqs = calloc(max, sizeof *r->reqs);
    ft_request fr;
    while (r->reqs && r->n < max && (rc = ft_source_next(src, &fr, err)) == 1) {
        rp_req *q = &r->reqs[r->n];
        q->run = r;
        q->served = -1;
        q->arrival_ns = (int64_t)((double)fr.arrival_ns / speed);
        q->in = fr.input_tokens ? fr.input_tokens : 1;
        q->out = fr.output_tokens;
        q->nsegs = fr.nsegs;
        q->segs = malloc((fr.nsegs ? fr.nsegs : 1) * sizeof *q->segs);
        if (!q->segs) {
            rc = -ENOMEM;
            break;
        }
        memcpy(q->segs, fr.segs, fr.nsegs * sizeof *q->segs);
        r->n++;
    }
    ft_source_free(src);
    if (!r->reqs)
        rc = -ENOMEM;
    if (rc == 0 && r->n > 0 && r->reqs[0].arrival_ns > 0) /* start at the first arrival */
        for (size_t i = r->n; i-- > 0;)
            r->reqs[i].arrival_ns -= r->reqs[0].arrival_ns;
    return rc < 0 ? rc : 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v[0..n) sorted; NAN when empty. */
static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0.0 / 0.0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    return v[k ? k - 1 : 0];
}

static json_t *summary(const rp_run *r, double wall_s)
{
    double *ttft = calloc(r->n + 1, sizeof *ttft), *tpot = calloc(r->n + 1, sizeof *tpot),
           *e2e = calloc(r->n + 1, sizeof *e2e);
    size_t nt = 0, np = 0, ne = 0, ok = 0, failed = 0, unfinished = 0;
    for (size_t i = 0; ttft && tpot && e2e && i < r->n; i++) {
        const rp_req *q = &r->reqs[i];
        if (!q->done) {
            unfinished++;
            continue;
        }
        if (q->status != 200 || q->events == 0) {
            failed++;
            continue;
        }
        ok++;
        ttft[nt++] = (double)(q->first - q->sent) * 1e-6;
        e2e[ne++] = (double)(q->last - q->sent) * 1e-6;
        if (q->events > 1)
            tpot[np++] = (double)(q->last - q->first) * 1e-6 / (q->events - 1);
    }
    qsort(ttft, nt, sizeof *ttft, cmp_d);
    qsort(tpot, np, sizeof *tpot, cmp_d);
    qsort(e2e, ne, sizeof *e2e, cmp_d);
    json_t *j = json_pack("{s:i,s:i,s:i,s:i,s:f,s:f,s:{s:f,s:f,s:f},s:{s:f,s:f,s:f},"
                          "s:{s:f,s:f,s:f}}",
                          "requests", (int)r->n, "ok", (int)ok, "failed", (int)failed,
                          "unfinished", (int)unfinished, "wall_s", wall_s,
                          "requests_per_s", wall_s > 0 ? (double)ok / wall_s : 0.0,
                          "ttft_ms", "p50", pct(ttft, nt, 50), "p90", pct(ttft, nt, 90), "p99",
                          pct(ttft, nt, 99), "tpot_ms", "p50", pct(tpot, np, 50), "p90",
                          pct(tpot, np, 90), "p99", pct(tpot, np, 99), "e2e_ms", "p50",
                          pct(e2e, ne, 50), "p90", pct(e2e, ne, 90), "p99", pct(e2e, ne, 99));
    free(ttft);
    free(tpot);
    free(e2e);
    return j;
}

static void print_text(json_t *j)
{
    printf("requests %lld: ok %lld, failed %lld, unfinished %lld in %.2f s (%.1f req/s)\n",
           json_integer_value(json_object_get(j, "requests")),
           json_integer_value(json_object_get(j, "ok")),
           json_integer_value(json_object_get(j, "failed")),
           json_integer_value(json_object_get(j, "unfinished")),
           json_real_value(json_object_get(j, "wall_s")),
           json_real_value(json_object_get(j, "requests_per_s")));
    static const char *const keys[] = {"ttft_ms", "tpot_ms", "e2e_ms"};
    for (int k = 0; k < 3; k++) {
        json_t *o = json_object_get(j, keys[k]);
        printf("%-8s p50 %9.3f  p90 %9.3f  p99 %9.3f\n", keys[k],
               json_real_value(json_object_get(o, "p50")),
               json_real_value(json_object_get(o, "p90")),
               json_real_value(json_object_get(o, "p99")));
    }
}

static int write_csv(const rp_run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fprintf(f, "index,arrival_ms,input_tokens,output_tokens,status,events,ttft_ms,e2e_ms\n");
    for (size_t i = 0; i < r->n; i++) {
        const rp_req *q = &r->reqs[i];
        fprintf(f, "%zu,%.3f,%u,%u,%d,%u,%.3f,%.3f\n", i, (double)q->arrival_ns * 1e-6, q->in,
                q->out, q->done ? q->status : 0, q->events,
                q->first ? (double)(q->first - q->sent) * 1e-6 : -1.0,
                q->done && q->sent ? (double)(q->last - q->sent) * 1e-6 : -1.0);
    }
    return fclose(f) == 0 ? 0 : -EIO;
}

static int parse_target(rp_run *r, const char *url)
{
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : url;
    const char *slash = strchr(p, '/'), *colon = strchr(p, ':');
    size_t hl = colon && (!slash || colon < slash) ? (size_t)(colon - p) : 0;
    if (hl == 0 || hl >= sizeof r->host)
        return -EINVAL;
    memcpy(r->host, p, hl);
    r->host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (port < 1 || port > 65535 || (end != slash && *end))
        return -EINVAL;
    r->port = (int)port;
    snprintf(r->path, sizeof r->path, "%s", slash && slash[1] ? slash : "/v1/completions");
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: fleetsim replay TRACE --target http://HOST:PORT[/PATH] [OPTIONS]\n\n"
        "Sends the trace's requests to an OpenAI-compatible server at their arrival times\n"
        "(streamed, open loop) and prints client-side TTFT, TPOT and E2E percentiles.\n\n"
        "options:\n"
        "  --target URL      server (a router, vLLM, fleetsim serve); path default\n"
        "                    /v1/completions\n"
        "  --format F        azure, burstgpt, mooncake, csv or auto (default)\n"
        "  --requests N      at most N requests (default 1000)\n"
        "  --duration S      stop after S seconds of wall time (default 60)\n"
        "  --speed F         arrivals F times faster than the trace (default 1)\n"
        "  --model NAME      the body's model (default llama-3.1-8b)\n"
        "  --salt N          different prompt text with the same sharing structure (a\n"
        "                    second replay against warm prefix caches; default 0)\n"
        "  --csv FILE        one row per request\n"
        "  --json            print the summary as JSON\n"
        "  --scenario FILE   the scenario of the fleet under test: store the replay in\n"
        "                    the results database as a run comparable with `fleetsim\n"
        "                    run FILE` (its pools and prices; its workload is unused)\n"
        "  --db PATH, --no-db, --no-requests, --name NAME, --tag TAG, --quiet\n"
        "                    where and how the run is stored, as for `fleetsim run`;\n"
        "                    the run is also tagged 'replay'\n"
        "  -h, --help        show this help\n"
        "Exit status: 0 done (even with failed requests); 1 the run could not be\n"
        "stored; 2 bad input.\n");
}

typedef struct rp_opts {
    const char *trace, *target, *format, *model, *csv, *scenario;
    uint64_t requests, salt;
    double duration, speed;
    bool json;
    fs_run_opts store;           /* --db, --no-db, --name, --tag, ... */
} rp_opts;

static int parse_opts(int argc, char **argv, rp_opts *o)
{
    static const struct option lo[] = {
        {"target", 1, 0, 't'}, {"format", 1, 0, 'f'}, {"requests", 1, 0, 'n'},
        {"duration", 1, 0, 'd'}, {"speed", 1, 0, 's'}, {"model", 1, 0, 'm'},
        {"csv", 1, 0, 'c'}, {"json", 0, 0, 'j'}, {"salt", 1, 0, 'S'}, {"help", 0, 0, 'h'},
        {"scenario", 1, 0, 'C'}, {"db", 1, 0, FS_OPT_DB}, {"no-db", 0, 0, FS_OPT_NO_DB},
        {"no-requests", 0, 0, FS_OPT_NO_REQUESTS}, {"quiet", 0, 0, FS_OPT_QUIET},
        {"name", 1, 0, FS_OPT_NAME}, {"tag", 1, 0, FS_OPT_TAG},
        {0}};
    *o = (rp_opts){.model = "llama-3.1-8b", .requests = 1000, .duration = 60, .speed = 1};
    o->store.tags[o->store.ntags++] = "replay";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 't': o->target = optarg; break;
        case 'f': o->format = optarg; break;
        case 'm': o->model = optarg; break;
        case 'c': o->csv = optarg; break;
        case 'j': o->json = true; break;
        case 'n': o->requests = strtoull(optarg, &end, 10); break;
        case 'S': o->salt = strtoull(optarg, &end, 10); break;
        case 'd': o->duration = strtod(optarg, &end); break;
        case 's': o->speed = strtod(optarg, &end); break;
        case 'C': o->scenario = optarg; break;
        case 'h': usage(stdout); exit(0);
        case FS_OPT_DB: case FS_OPT_NO_DB: case FS_OPT_NO_REQUESTS: case FS_OPT_QUIET:
        case FS_OPT_NAME: case FS_OPT_TAG:
            if (fs_run_opt(&o->store, c, optarg, "replay") != 0)
                return -EINVAL;
            break;
        default: return -EINVAL;
        }
        if (end && *end) {
            fprintf(stderr, "fleetsim replay: bad number '%s'\n", optarg);
            return -EINVAL;
        }
    }
    if (optind + 1 != argc || !o->target || o->requests < 1 || o->requests > 10000000 ||
        !(o->duration > 0) || !(o->speed > 0)) {
        fprintf(stderr, "fleetsim replay: expected TRACE and --target (see --help)\n");
        return -EINVAL;
    }
    o->trace = argv[optind];
    return 0;
}

static void run_free(rp_run *r)
{
    for (size_t i = 0; r->reqs && i < r->n; i++) {
        if (r->reqs[i].up)
            evhttp_cancel_request(r->reqs[i].up);
        if (r->reqs[i].ev)
            event_free(r->reqs[i].ev);
        free(r->reqs[i].segs);
    }
    free(r->reqs);
    for (int i = 0; i < r->nserved; i++)
        free(r->served[i]);
    fs_metrics_free(r->metrics);
    if (r->deadline)
        event_free(r->deadline);
    if (r->base)
        event_base_free(r->base);
}

/* Cost inputs of the scenario's fleet: accelerators and prices; busy time unknown. */
static void fleet_cost(const fs_scenario *sc, fs_cost_inputs *all, fs_cost_inputs *pools)
{
    for (int i = 0; i < sc->npools; i++) {
        const fs_pool *p = &sc->pools[i];
        pools[i] = (fs_cost_inputs){.accelerators = p->replicas * p->tp,
                                    .price_per_hour = p->accel.price_per_hour,
                                    .tdp_w = p->accel.tdp_w, .idle_w = p->accel.idle_w};
        snprintf(pools[i].name, sizeof pools[i].name, "%s", p->name);
    }
    *all = pools[0];
    if (sc->npools > 1) {
        all->npools = sc->npools;
        all->pools = pools;
    }
}

/* The replay's requests as the simulator's records (times from the replay's start). */
static fs_req_record *records(rp_run *r)
{
    fs_req_record *recs = calloc(r->n + 1, sizeof *recs);
    for (size_t i = 0; recs && i < r->n; i++) {
        const rp_req *q = &r->reqs[i];
        fs_req_record *c = &recs[i];
        c->id = i;
        c->input_tokens = q->in;
        c->replica = c->prefill_replica = -1;
        c->arrival = q->sent ? q->sent - r->t0 : q->arrival_ns;
        if (!q->done || q->status != 200 || q->events == 0)
            continue;   /* output_tokens 0: rejected */
        c->first_scheduled = c->arrival;
        c->first_token = q->first - r->t0;
        c->finish = q->last - r->t0;
        c->output_tokens = q->events;
        c->replica = q->served < 0 ? 0 : q->served;
    }
    return recs;
}

/* Stores the replay as a run of `o->scenario`; 0, or -1 after printing the error. */
static int store(rp_run *r, const rp_opts *o, double wall)
{
    fs_scenario sc;
    if (fs_load_scenario("replay", o->scenario, &o->store, &sc) != 0)
        return -1;
    fs_req_record *recs = records(r);
    fs_run_result res = {0};
    char *err = NULL;
    int rc = recs ? fs_cluster_size_kv(&sc, &res.kv, &err) : -ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < r->n; i++) {
            if (recs[i].output_tokens > 0)
                fs_metrics_request(r->metrics, &recs[i]);
            else
                fs_metrics_rejected(r->metrics);
        }
        fs_cost_inputs pools[FS_MAX_POOLS], all;
        fleet_cost(&sc, &all, pools);
        fs_metrics_summarize(r->metrics, &all, &res.summary);
        rc = fs_store_measured("replay", &sc, &o->store, recs, r->n, &res, wall, NULL);
    } else {
        fprintf(stderr, "fleetsim replay: %s\n", err ? err : strerror(-rc));
        rc = -1;
    }
    free(err);
    free(recs);
    fs_scenario_free(&sc);
    return rc;
}

static int replay_main(int argc, char **argv)
{
    rp_opts o;
    rp_run r = {0};
    char *err = NULL;
    if (parse_opts(argc, argv, &o) < 0)
        return FS_EXIT_USAGE;
    if (parse_target(&r, o.target) < 0) {
        fprintf(stderr, "fleetsim replay: --target: expected http://HOST:PORT[/PATH]\n");
        return FS_EXIT_USAGE;
    }
    r.model = o.model;
    r.salt = o.salt;
    if (o.scenario && !o.store.no_db) {   /* check the scenario before sending anything */
        fs_scenario sc;
        if (fs_load_scenario("replay", o.scenario, &o.store, &sc) != 0)
            return FS_EXIT_USAGE;
        fs_slo slo = sc.slo;
        fs_scenario_free(&sc);
        if (!(r.metrics = fs_metrics_new(&slo)))
            return fprintf(stderr, "fleetsim replay: out of memory\n"), 1;
    }
    signal(SIGPIPE, SIG_IGN);
    int rc = load_trace(&r, o.trace, o.format, o.requests, o.speed, &err);
    if (rc == 0 && !(r.base = event_base_new()))
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < r.n; i++) {
        rp_req *q = &r.reqs[i];
        struct timeval tv = {(time_t)(q->arrival_ns / 1000000000),
                             (suseconds_t)(q->arrival_ns % 1000000000 / 1000)};
        if (!(q->ev = evtimer_new(r.base, on_arrival, q)) || evtimer_add(q->ev, &tv) < 0)
            rc = -ENOMEM;
    }
    if (rc < 0) {
        fprintf(stderr, "fleetsim replay: %s\n", err ? err : strerror(-rc));
        free(err);
        run_free(&r);
        return FS_EXIT_USAGE;
    }
    struct timeval dl = {(time_t)o.duration,
                         (suseconds_t)((o.duration - (time_t)o.duration) * 1e6)};
    r.deadline = evtimer_new(r.base, on_deadline, &r);
    evtimer_add(r.deadline, &dl);
    r.t0 = mono_ns();
    if (r.n > 0)
        event_base_dispatch(r.base);
    double wall = (double)(mono_ns() - r.t0) * 1e-9;
    json_t *j = summary(&r, wall);
    if (o.json)
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6)), putchar('\n');
    else if (j)
        print_text(j);
    json_decref(j);
    if (o.csv && write_csv(&r, o.csv) < 0)
        fprintf(stderr, "fleetsim replay: cannot write %s\n", o.csv);
    int stored = r.metrics ? store(&r, &o, wall) : 0;
    run_free(&r);
    return stored == 0 ? FS_EXIT_OK : 1;
}

const fs_cmd fs_cmd_replay = {"replay", "drive an HTTP server with a trace, measure TTFT/TPOT",
                              replay_main};
