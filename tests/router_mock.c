/*
 * router_mock.c: a scripted OpenAI-compatible model server for the router's end-to-end
 * test (tests/router.sh). Not a model of anything: it answers at fixed pace so the test
 * can check what the router does with streams, errors, P/D and broken metrics.
 *
 * Workload assumed: a handful of requests from one test; it listens on 127.0.0.1 only and
 * exits by itself after --lifetime seconds.
 *
 * Options: --port-file F (write the port bound), --name N (echoed as "pod" in every
 * answer and in x-inference-pod), --chunks K (stream chunks, default 5), --chunk-ms M
 * (default 10), --die-after K (close the connection after K chunks), --status C (answer
 * inference with HTTP status C), --garbage-metrics, --lifetime S (default 60).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <getopt.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static const char *g_name = "mock";
static int g_chunks = 5, g_chunk_ms = 10, g_die_after = -1, g_status = 200, g_garbage;
static int g_running;
static struct event_base *g_base;

typedef struct stream {
    struct evhttp_request *req;
    struct event *ev;
    int sent;
    int remote_prefill;
} stream;

static void stream_free(stream *s)
{
    event_free(s->ev);
    free(s);
    g_running--;
}

static void on_close(struct evhttp_connection *c, void *arg)
{
    stream *s = arg;
    if (evhttp_request_get_connection(s->req) == NULL)
        evhttp_send_reply_end(s->req);
    stream_free(s);
}

static void on_chunk(evutil_socket_t fd, short w, void *arg)
{
    stream *s = arg;
    struct evhttp_connection *c = evhttp_request_get_connection(s->req);
    if (s->sent == g_die_after) {
        evhttp_connection_set_closecb(c, NULL, NULL);
        stream_free(s);
        evhttp_connection_free(c); /* frees the request: the stream dies mid-way */
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (s->sent < g_chunks) {
        evbuffer_add_printf(b, "data: {\"pod\":\"%s\",\"remote_prefill\":%s,\"choices\":"
                               "[{\"index\":0,\"text\":\"t%d \"}]}\n\n", g_name,
                            s->remote_prefill ? "true" : "false", s->sent);
        evhttp_send_reply_chunk(s->req, b);
        evbuffer_free(b);
        s->sent++;
        struct timeval tv = {0, g_chunk_ms * 1000};
        evtimer_add(s->ev, &tv);
        return;
    }
    evbuffer_add_printf(b, "data: [DONE]\n\n");
    evhttp_send_reply_chunk(s->req, b);
    evbuffer_free(b);
    evhttp_connection_set_closecb(c, NULL, NULL);
    evhttp_send_reply_end(s->req);
    stream_free(s);
}

static void reply(struct evhttp_request *req, int code, const char *ctype, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_add_header(evhttp_request_get_output_headers(req), "x-inference-pod", g_name);
    evhttp_send_reply(req, code, "X", b);
    evbuffer_free(b);
}

static void metrics(struct evhttp_request *req)
{
    char buf[1024];
    if (g_garbage) {
        reply(req, 200, "text/plain", "vllm:num_requests_waiting{a=\"b\"} banana\n\x01\x02");
        return;
    }
    snprintf(buf, sizeof buf,
             "# HELP vllm:num_requests_running x\nvllm:num_requests_running{model_name=\"m\"} %d\n"
             "vllm:num_requests_waiting{model_name=\"m\"} 0\n"
             "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.1\n"
             "vllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"1000\"} 1\n",
             g_running);
    reply(req, 200, "text/plain", buf);
}

static void infer(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *body = calloc(1, n + 1);
    evbuffer_copyout(in, body, n);
    int stream_req = strstr(body, "\"stream\":true") != NULL;
    int remote_decode = strstr(body, "\"do_remote_decode\":true") != NULL;
    int remote_prefill = strstr(body, "\"do_remote_prefill\":true") != NULL;
    free(body);
    char buf[512];
    if (g_status != 200) {
        reply(req, g_status, "application/json", "{\"error\":{\"message\":\"injected\"}}");
        return;
    }
    if (remote_decode || !stream_req) {
        snprintf(buf, sizeof buf, "{\"pod\":\"%s\",\"remote_prefill\":%s,\"choices\":[{\"text"
                 "\":\"x\"}],\"kv_transfer_params\":{\"do_remote_prefill\":true,"
                 "\"do_remote_decode\":false,\"remote_engine_id\":\"%s\",\"remote_block_ids\":"
                 "[1,2],\"remote_host\":\"127.0.0.1\",\"remote_port\":1}}\n", g_name,
                 remote_prefill ? "true" : "false", g_name);
        reply(req, 200, "application/json", buf);
        return;
    }
    stream *s = calloc(1, sizeof *s);
    s->req = req;
    s->remote_prefill = remote_prefill;
    s->ev = evtimer_new(g_base, on_chunk, s);
    g_running++;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/event-stream");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close, s);
    struct timeval tv = {0, g_chunk_ms * 1000};
    evtimer_add(s->ev, &tv);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const char *p = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!p)
        reply(req, 400, "text/plain", "bad\n");
    else if (strcmp(p, "/metrics") == 0)
        metrics(req);
    else if (strcmp(p, "/v1/models") == 0)
        reply(req, 200, "application/json", "{\"object\":\"list\",\"data\":[{\"id\":\"mock\"}]}\n");
    else if (strncmp(p, "/v1/", 4) == 0)
        infer(req);
    else
        reply(req, 200, "text/plain", "ok\n");
}

static void on_lifetime(evutil_socket_t fd, short w, void *arg)
{
    event_base_loopexit(g_base, NULL);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"port-file", 1, 0, 'P'}, {"name", 1, 0, 'n'}, {"chunks", 1, 0, 'c'},
        {"chunk-ms", 1, 0, 'm'}, {"die-after", 1, 0, 'd'}, {"status", 1, 0, 's'},
        {"garbage-metrics", 0, 0, 'g'}, {"lifetime", 1, 0, 'l'}, {0}};
    const char *port_file = NULL;
    int lifetime = 60, c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'P': port_file = optarg; break;
        case 'n': g_name = optarg; break;
        case 'c': g_chunks = atoi(optarg); break;
        case 'm': g_chunk_ms = atoi(optarg); break;
        case 'd': g_die_after = atoi(optarg); break;
        case 's': g_status = atoi(optarg); break;
        case 'g': g_garbage = 1; break;
        case 'l': lifetime = atoi(optarg); break;
        default: return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    g_base = event_base_new();
    struct evhttp *http = evhttp_new(g_base);
    evhttp_set_gencb(http, on_request, NULL);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (!s)
        return 1;
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &sl);
    if (port_file) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
        FILE *f = fopen(tmp, "w");
        fprintf(f, "%d\n", ntohs(sa.sin_port));
        fclose(f);
        rename(tmp, port_file);
    }
    struct event *life = evtimer_new(g_base, on_lifetime, NULL);
    struct timeval tv = {lifetime, 0};
    evtimer_add(life, &tv);
    event_base_dispatch(g_base);
    event_free(life);
    evhttp_free(http);
    event_base_free(g_base);
    return 0;
}
