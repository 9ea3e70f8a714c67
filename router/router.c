/*
 * router.c: fleetsim-router, the production router. An HTTP/1.1 reverse proxy for
 * OpenAI-compatible model servers (vLLM, `fleetsim serve`) that decides with
 * libfleetpolicy, the same code the simulator runs.
 *
 * One thread, one libevent loop: evhttp serves clients; each proxied request runs on an
 * upstream HTTP/1.1 connection taken from its endpoint's pool of idle keep-alive
 * connections (or a new one), and its body is relayed chunk by chunk as it arrives
 * (evhttp_request_set_chunked_cb), so server-sent events stream through without
 * buffering. A connection that finished its request cleanly goes back to the pool; one
 * that failed, was cancelled or finds the pool full is freed on the next loop turn
 * (never inside libevent's callback for it). A server that closes an idle pooled
 * connection costs nothing: libevent reconnects on its next request; if a request on a
 * reused connection fails before any byte came back (the server closed it just as the
 * request left), it is sent once more on a fresh connection before the endpoint counts
 * as failing. Why a pool: a connect per request (the first version) held the router to
 * 71-87 % of nginx's throughput on loopback, the connect/close syscalls dominating the
 * profile. A timer scrapes each endpoint's /metrics every
 * 50 ms on a persistent connection and feeds fp_endpoint_update(); three failed scrapes
 * in a row, or a refused connection while proxying, take an endpoint out of the policy
 * until a scrape succeeds again.
 *
 * Workload assumed: 1 to ~100 endpoints, thousands of requests per second, streams of
 * seconds to minutes. SIGHUP reloads the endpoints file; SIGTERM stops accepting and
 * exits once streams in flight have finished (or after --drain-timeout).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fu_file.h"
#include "fu_yaml.h"
#include "rt.h"

/* Decision-latency histogram bounds, seconds (Prometheus "le"). */
static const double k_dec_le[] = {1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3,
                                  1e-2};
#define NDEC (sizeof k_dec_le / sizeof k_dec_le[0])
#define MAX_TRIES 3
#define DOWN_AFTER 3

typedef struct rt_router rt_router;

/* An endpoint of the pool. Shared by in-flight requests (refs); freed when the
   endpoints file no longer lists it and the last request on it has finished. */
typedef struct rt_ep {
    rt_router *r;
    rt_epdesc d;                     /* owned */
    uint32_t id;                     /* policy id while `in_policy` */
    bool in_policy, removed, scraping;
    int fails, refs;
    int64_t last_ok_ns;
    uint64_t picks, scrapes_failed;
    struct evhttp_connection *scrape; /* persistent; NULL until first scrape */
    struct evhttp_request *scrape_req;
    struct evhttp_connection *idle[32]; /* keep-alive connections for proxying */
    int nidle;
} rt_ep;

struct rt_router {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    fp_policy *policy;
    fp_rng rng;
    rt_ep **eps;
    size_t neps;
    const char *endpoints_path;
    int64_t scrape_ns, stale_ns;
    int timeout_s;
    bool picker;
    bool draining;
    uint64_t next_id;
    int inflight;
    int flushing;                    /* replies ended but not yet written out */
    uint64_t requests, retries, errors[6]; /* 400 404 413 502 503 other */
    uint64_t dec_bucket[NDEC + 1];
    double dec_sum;
    struct event *tick, *ev_hup, *ev_term, *ev_int, *drain_deadline;
    double drain_timeout_s;
    struct evhttp_connection **dead; /* upstream connections to free next loop turn */
    size_t ndead, dead_cap;
    struct event *ev_reap;
    uint64_t connects;               /* upstream connections opened for proxying */
};

/* One client request being proxied. */
typedef struct rt_px {
    rt_router *r;
    struct evhttp_request *client;   /* NULL once the client side is finished */
    struct evhttp_request *up;       /* current upstream request, or NULL */
    rt_ep *ep, *prefill_ep;
    struct evhttp_connection *conn;  /* the upstream request's connection, or NULL */
    rt_ep *conn_ep;                  /* the endpoint it belongs to */
    enum evhttp_cmd_type method;     /* of the current leg */
    uint64_t id;
    bool picked, started, first, pd_prefill, chat, reused;
    int tries;
    rt_body body;
    char *decode_body;               /* body sent to the decode endpoint */
    char *uri;
} rt_px;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ replies */

static void count_error(rt_router *r, int code)
{
    int i = code == 400 ? 0 : code == 404 ? 1 : code == 413 ? 2 : code == 502 ? 3
          : code == 503 ? 4 : 5;
    r->errors[i]++;
}

/* Sends an OpenAI-style JSON error {"error":{"message","type","code"}}. */
static void reply_error(rt_router *r, struct evhttp_request *req, int code, const char *msg)
{
    count_error(r, code);
    json_t *j = json_pack("{s:{s:s,s:s,s:i}}", "error", "message", msg ? msg : "error",
                          "type", code == 503 ? "service_unavailable" : "invalid_request",
                          "code", code);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    struct evbuffer *b = evbuffer_new();
    if (b && s)
        evbuffer_add_printf(b, "%s\n", s);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_send_reply(req, code, code == 503 ? "Service Unavailable" : "Error", b);
    if (b)
        evbuffer_free(b);
    free(s);
    json_decref(j);
}

static void reply_text(struct evhttp_request *req, const char *ctype, struct evbuffer *b)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_send_reply(req, 200, "OK", b);
}

/* ------------------------------------------------------------------ endpoints */

static void ep_unref(rt_ep *e)
{
    if (--e->refs > 0)
        return;
    if (e->scrape_req)
        evhttp_cancel_request(e->scrape_req);
    if (e->scrape)
        evhttp_connection_free(e->scrape);
    while (e->nidle > 0)
        evhttp_connection_free(e->idle[--e->nidle]);
    free(e->d.name);
    free(e->d.address);
    free(e->d.host);
    for (size_t j = 0; j < e->d.nlabels; j++) {
        free((char *)e->d.labels[j].key);
        free((char *)e->d.labels[j].value);
    }
    free(e->d.labels);
    free(e);
}

/* Puts e into the policy (again). Returns 0 or the policy's error. */
static int ep_enter(rt_router *r, rt_ep *e)
{
    if (e->in_policy || e->removed)
        return 0;
    fp_endpoint_desc d = {e->d.name, e->d.address, e->d.labels, e->d.nlabels};
    char *err = NULL;
    int rc = fp_endpoint_add(r->policy, &d, &e->id, &err);
    if (rc < 0) {
        fprintf(stderr, "fleetsim-router: endpoint %s: %s\n", e->d.name, err ? err : "");
        free(err);
        return rc;
    }
    e->in_policy = true;
    return 0;
}

/* Takes e out of the candidates (down, or no longer listed). */
static void ep_leave(rt_router *r, rt_ep *e)
{
    if (!e->in_policy)
        return;
    fp_endpoint_remove(r->policy, e->id);
    e->in_policy = false;
}

static void ep_mark_down(rt_router *r, rt_ep *e, const char *why)
{
    if (e->in_policy)
        fprintf(stderr, "fleetsim-router: endpoint %s down: %s\n", e->d.name, why);
    e->fails = DOWN_AFTER;
    ep_leave(r, e);
}

static void scrape_done(struct evhttp_request *req, void *arg)
{
    rt_ep *e = arg;
    rt_router *r = e->r;
    e->scraping = false;
    e->scrape_req = NULL;
    fp_metrics m = {0};
    int code = req ? evhttp_request_get_response_code(req) : 0;
    int rc = -EIO;
    if (code == 200) {
        struct evbuffer *b = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(b);
        const char *p = (const char *)evbuffer_pullup(b, -1);
        rc = rt_prom_parse(p ? p : "", p ? len : 0, &m, NULL);
    }
    if (rc < 0) {
        e->scrapes_failed++;
        if (++e->fails >= DOWN_AFTER)
            ep_mark_down(r, e, code ? "bad /metrics" : "no answer to /metrics");
        return;
    }
    e->fails = 0;
    e->last_ok_ns = m.updated_ns = now_ns();
    if (ep_enter(r, e) == 0 && e->in_policy)
        fp_endpoint_update(r->policy, e->id, &m);
}

static void scrape_one(rt_router *r, rt_ep *e)
{
    if (e->scraping || e->removed)
        return;
    if (!e->scrape) {
        e->scrape = evhttp_connection_base_new(r->base, NULL, e->d.host, e->d.port);
        if (!e->scrape)
            return;
        evhttp_connection_set_timeout(e->scrape, 1);
        evhttp_connection_set_max_body_size(e->scrape, 1 << 20);
    }
    struct evhttp_request *q = evhttp_request_new(scrape_done, e);
    if (!q)
        return;
    evhttp_add_header(evhttp_request_get_output_headers(q), "Host", e->d.address);
    if (evhttp_make_request(e->scrape, q, EVHTTP_REQ_GET, "/metrics") < 0)
        return; /* q was freed by libevent */
    e->scraping = true;
    e->scrape_req = q;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    rt_router *r = arg;
    for (size_t i = 0; i < r->neps; i++)
        scrape_one(r, r->eps[i]);
}

static rt_ep *ep_new(rt_router *r, rt_epdesc *d)
{
    rt_ep *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->r = r;
    e->d = *d;
    memset(d, 0, sizeof *d);
    e->refs = 1;
    return e;
}

static bool ep_same(const rt_ep *e, const rt_epdesc *d)
{
    if (strcmp(e->d.address, d->address) != 0 || e->d.nlabels != d->nlabels)
        return false;
    for (size_t i = 0; i < d->nlabels; i++)
        if (strcmp(e->d.labels[i].key, d->labels[i].key) != 0 ||
            strcmp(e->d.labels[i].value, d->labels[i].value) != 0)
            return false;
    return true;
}

/* Drops endpoint i of r->eps (the set keeps its order). */
static void ep_drop(rt_router *r, size_t i)
{
    rt_ep *e = r->eps[i];
    ep_leave(r, e);
    e->removed = true;
    if (e->scrape_req) {
        evhttp_cancel_request(e->scrape_req);
        e->scrape_req = NULL;
        e->scraping = false;
    }
    while (e->nidle > 0)   /* idle: no callback of theirs can be running */
        evhttp_connection_free(e->idle[--e->nidle]);
    memmove(&r->eps[i], &r->eps[i + 1], (r->neps - i - 1) * sizeof *r->eps);
    r->neps--;
    ep_unref(e);
}

/* Loads the endpoints file and reconciles the pool with it: endpoints that kept their
   name, address and labels keep their state (and their prefix index entries). On a bad
   file the pool stays as it was. */
static int load_endpoints(rt_router *r)
{
    rt_epdesc *d;
    size_t n;
    char *err = NULL;
    if (rt_endpoints_load(r->endpoints_path, &d, &n, &err) < 0) {
        fprintf(stderr, "fleetsim-router: %s\n", err ? err : "out of memory");
        free(err);
        return -EINVAL;
    }
    for (size_t i = r->neps; i-- > 0;) {
        size_t j = 0;
        while (j < n && strcmp(d[j].name, r->eps[i]->d.name) != 0)
            j++;
        if (j == n || !ep_same(r->eps[i], &d[j]))
            ep_drop(r, i);
    }
    rt_ep **grown = realloc(r->eps, (r->neps + n + 1) * sizeof *grown);
    if (!grown) {
        rt_epdesc_free(d, n);
        return -ENOMEM;
    }
    r->eps = grown;
    for (size_t j = 0; j < n; j++) {
        size_t i = 0;
        while (i < r->neps && strcmp(r->eps[i]->d.name, d[j].name) != 0)
            i++;
        if (i < r->neps)
            continue;
        rt_ep *e = ep_new(r, &d[j]);
        if (e) {
            r->eps[r->neps++] = e;
            ep_enter(r, e);
        }
    }
    rt_epdesc_free(d, n);
    fprintf(stderr, "fleetsim-router: %zu endpoints from %s\n", r->neps, r->endpoints_path);
    return 0;
}

static rt_ep *ep_by_policy_id(rt_router *r, uint32_t id)
{
    for (size_t i = 0; i < r->neps; i++)
        if (r->eps[i]->in_policy && r->eps[i]->id == id)
            return r->eps[i];
    return NULL;
}

/* ------------------------------------------------------------------ proxying */

/* While draining, the loop ends once no request is in flight and every reply has been
   written out (a reply ended with evhttp_send_reply_end may still sit in a buffer). */
static void maybe_exit(rt_router *r)
{
    if (r->draining && r->inflight == 0 && r->flushing == 0)
        event_base_loopexit(r->base, NULL);
}

static void on_flushed(struct evhttp_request *req, void *arg)
{
    rt_router *r = arg;
    r->flushing--;
    maybe_exit(r);
}

/* Counts the reply of req as unwritten until libevent has sent it. */
static void track_flush(rt_router *r, struct evhttp_request *req)
{
    r->flushing++;
    evhttp_request_set_on_complete_cb(req, on_flushed, r);
}

/* ------------------------------------------------------------------ upstream pool */

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rt_router *r = arg;
    while (r->ndead > 0)
        evhttp_connection_free(r->dead[--r->ndead]);
}

/* Frees c on the next loop turn: it may be the connection whose callback is running. */
static void conn_bury(rt_router *r, struct evhttp_connection *c)
{
    if (r->ndead == r->dead_cap) {
        size_t cap = r->dead_cap ? 2 * r->dead_cap : 64;
        struct evhttp_connection **g = realloc(r->dead, cap * sizeof *g);
        if (!g) {   /* rather a leaked socket than a freed connection still in use */
            fprintf(stderr, "fleetsim-router: out of memory freeing a connection\n");
            return;
        }
        r->dead = g;
        r->dead_cap = cap;
    }
    r->dead[r->ndead++] = c;
    event_active(r->ev_reap, EV_TIMEOUT, 0);
}

/* An idle keep-alive connection to e, or a new one (*reused says which); NULL on error. */
static struct evhttp_connection *conn_get(rt_router *r, rt_ep *e, bool fresh, bool *reused)
{
    *reused = !fresh && e->nidle > 0;
    if (*reused)
        return e->idle[--e->nidle];
    struct evhttp_connection *c = evhttp_connection_base_new(r->base, NULL, e->d.host,
                                                             e->d.port);
    if (c) {
        evhttp_connection_set_timeout(c, r->timeout_s);
        r->connects++;
    }
    return c;
}

/* x is done with its connection: back to the pool when it ended cleanly (ok), else freed. */
static void conn_put(rt_px *x, bool ok)
{
    struct evhttp_connection *c = x->conn;
    rt_ep *e = x->conn_ep;
    x->conn = NULL;
    x->conn_ep = NULL;
    if (!c)
        return;
    if (ok && !e->removed && !x->r->draining &&
        e->nidle < (int)(sizeof e->idle / sizeof e->idle[0]))
        e->idle[e->nidle++] = c;
    else
        conn_bury(x->r, c);
}

static void px_free(rt_px *x)
{
    rt_router *r = x->r;
    conn_put(x, false);
    if (x->picked)
        fp_request_end(r->policy, x->id, now_ns());
    if (x->ep)
        ep_unref(x->ep);
    if (x->prefill_ep)
        ep_unref(x->prefill_ep);
    rt_body_free(&x->body);
    free(x->decode_body);
    free(x->uri);
    free(x);
    r->inflight--;
    maybe_exit(r);
}

/* Finishes the client's reply (the stream's last chunk) and forgets the client. */
static void px_client_end(rt_px *x)
{
    if (!x->client)
        return;
    struct evhttp_connection *c = evhttp_request_get_connection(x->client);
    if (c) {
        evhttp_connection_set_closecb(c, NULL, NULL);
        track_flush(x->r, x->client);
    }
    evhttp_send_reply_end(x->client);
    x->client = NULL;
}

static void px_client_error(rt_px *x, int code, const char *msg)
{
    if (!x->client)
        return;
    struct evhttp_connection *c = evhttp_request_get_connection(x->client);
    if (c)
        evhttp_connection_set_closecb(c, NULL, NULL);
    reply_error(x->r, x->client, code, msg);
    x->client = NULL;
}

/* The client went away: libevent detached its request (we free it) or is freeing the
   connection with the request on it (it frees it). Cancel the upstream and finish. */
static void on_client_close(struct evhttp_connection *c, void *arg)
{
    rt_px *x = arg;
    if (x->client && evhttp_request_get_connection(x->client) == NULL)
        evhttp_send_reply_end(x->client); /* frees a detached request */
    x->client = NULL;
    if (x->up) {
        struct evhttp_request *u = x->up;
        x->up = NULL;
        evhttp_cancel_request(u);
    }
    px_free(x);   /* the cancelled request's connection is freed, not pooled */
}

static void px_start_reply(rt_px *x, struct evhttp_request *u)
{
    if (x->started || !x->client)
        return;
    x->started = true;
    struct evkeyvalq *out = evhttp_request_get_output_headers(x->client);
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(u), "Content-Type");
    evhttp_add_header(out, "Content-Type", ct ? ct : "application/json");
    if (x->ep)
        evhttp_add_header(out, "x-gateway-destination-endpoint-served", x->ep->d.address);
    if (x->picked && x->ep && x->ep->in_policy) {
        char tok[256];
        if (fp_session_token(x->r->policy, x->ep->id, tok, sizeof tok) < sizeof tok)
            evhttp_add_header(out, "x-session-token", tok);
    }
    int code = evhttp_request_get_response_code(u);
    evhttp_send_reply_start(x->client, code, code == 200 ? "OK" : "Upstream");
}

static int up_headers(struct evhttp_request *u, void *arg)
{
    rt_px *x = arg;
    px_start_reply(x, u);
    return 0;
}

/* Relays what the upstream sent so far; the first byte releases the prompt's load. */
static void up_chunk(struct evhttp_request *u, void *arg)
{
    rt_px *x = arg;
    struct evbuffer *b = evhttp_request_get_input_buffer(u);
    if (evbuffer_get_length(b) == 0)
        return;
    px_start_reply(x, u);
    if (!x->first && x->picked) {
        x->first = true;
        fp_request_first_token(x->r->policy, x->id, now_ns());
    }
    if (x->client)
        evhttp_send_reply_chunk(x->client, b);
    else
        evbuffer_drain(b, evbuffer_get_length(b));
}

static void up_error(enum evhttp_request_error e, void *arg)
{
    (void)e;
    (void)arg;
}

static void up_done(struct evhttp_request *u, void *arg);
static int px_pick_and_send(rt_px *x);

/* Sends x's body to endpoint e (the prefill leg buffers its small answer; the decode
   leg streams), on a pooled connection unless `fresh`. Returns 0, or -EIO when no
   request could be started. */
static int px_send_on(rt_px *x, rt_ep *e, enum evhttp_cmd_type method, const char *body,
                      bool prefill, bool fresh)
{
    rt_router *r = x->r;
    bool reused;
    struct evhttp_connection *c = conn_get(r, e, fresh, &reused);
    if (!c)
        return -EIO;
    struct evhttp_request *u = evhttp_request_new(up_done, x);
    if (!u) {
        conn_bury(r, c);
        return -EIO;
    }
    x->conn = c;
    x->conn_ep = e;
    x->reused = reused;
    x->method = method;
    if (!prefill) {
        evhttp_request_set_header_cb(u, up_headers);
        evhttp_request_set_chunked_cb(u, up_chunk);
    }
    evhttp_request_set_error_cb(u, up_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(u);
    evhttp_add_header(h, "Host", e->d.address);
    const char *auth = x->client ? evhttp_find_header(
        evhttp_request_get_input_headers(x->client), "Authorization") : NULL;
    if (auth)
        evhttp_add_header(h, "Authorization", auth);
    if (body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(u), body, strlen(body));
    }
    x->pd_prefill = prefill;
    x->up = u;
    if (evhttp_make_request(c, u, method, x->uri) < 0) {
        x->up = NULL;
        conn_put(x, false);
        return -EIO;
    }
    return 0;
}

static int px_send(rt_px *x, rt_ep *e, enum evhttp_cmd_type method, const char *body,
                   bool prefill)
{
    return px_send_on(x, e, method, body, prefill, false);
}

static char *pd_prefill_body(json_t *root);

/* The current leg failed on a reused connection before any answer: the server may have
   closed it as the request left. Sends the leg again on a fresh connection; 0 if sent. */
static int px_resend_fresh(rt_px *x)
{
    rt_ep *e = x->conn_ep;
    bool prefill = x->pd_prefill;
    conn_put(x, false);
    if (prefill) {
        char *pb = pd_prefill_body(x->body.root);
        int rc = pb ? px_send_on(x, e, EVHTTP_REQ_POST, pb, true, true) : -ENOMEM;
        free(pb);
        return rc;
    }
    const char *body = x->method == EVHTTP_REQ_POST ? x->decode_body : NULL;
    return px_send_on(x, e, x->method, body, false, true);
}

/* The prefill leg's body: max_tokens 1, not streamed, do_remote_decode. */
static char *pd_prefill_body(json_t *root)
{
    json_t *p = json_deep_copy(root);
    if (!p)
        return NULL;
    json_object_set_new(p, "max_tokens", json_integer(1));
    json_object_del(p, "max_completion_tokens");
    json_object_set_new(p, "stream", json_false());
    json_object_del(p, "stream_options");
    json_object_set_new(p, "kv_transfer_params",
                        json_pack("{s:b,s:b,s:n,s:n,s:n,s:n}", "do_remote_decode", 1,
                                  "do_remote_prefill", 0, "remote_engine_id",
                                  "remote_block_ids", "remote_host", "remote_port"));
    char *s = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return s;
}

/* The decode leg's body: the client's, with the prefill's kv_transfer_params. */
static char *pd_decode_body(json_t *root, struct evhttp_request *u)
{
    json_t *kv = NULL;
    if (u && evhttp_request_get_response_code(u) == 200) {
        struct evbuffer *b = evhttp_request_get_input_buffer(u);
        json_t *resp = json_loadb((const char *)evbuffer_pullup(b, -1),
                                  evbuffer_get_length(b), 0, NULL);
        kv = json_incref(json_object_get(resp, "kv_transfer_params"));
        json_decref(resp);
    }
    json_t *d = json_deep_copy(root);
    if (d && json_is_object(kv))
        json_object_set(d, "kv_transfer_params", kv);
    json_decref(kv);
    char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    return s;
}

static void up_done(struct evhttp_request *u, void *arg)
{
    rt_px *x = arg;
    x->up = NULL;
    bool answered = u && evhttp_request_get_response_code(u) != 0;
    if (!answered && x->reused && !x->started && x->client && px_resend_fresh(x) == 0)
        return;
    conn_put(x, answered);
    if (x->pd_prefill) {
        if (!u || evhttp_request_get_response_code(u) != 200)
            fprintf(stderr, "fleetsim-router: prefill on %s failed; decoding without it\n",
                    x->prefill_ep->d.name);
        free(x->decode_body);
        x->decode_body = pd_decode_body(x->body.root, u);
        if (x->decode_body && px_send(x, x->ep, EVHTTP_REQ_POST, x->decode_body, false) == 0)
            return;
        px_client_error(x, 502, "could not start the decode request");
        px_free(x);
        return;
    }
    if (!u || evhttp_request_get_response_code(u) == 0) {
        if (!x->started && x->client && x->ep && x->tries < MAX_TRIES) {
            ep_mark_down(x->r, x->ep, "connection failed");
            x->r->retries++;
            x->tries++;
            if (px_pick_and_send(x) == 0)
                return;
        } else if (!x->started) {
            px_client_error(x, 502, "the model server did not answer");
        } else if (x->client && x->body.stream) {
            struct evbuffer *b = evbuffer_new();
            evbuffer_add_printf(b, "data: {\"error\":{\"message\":\"the model server "
                                   "closed the stream\",\"code\":502}}\n\n");
            evhttp_send_reply_chunk(x->client, b);
            evbuffer_free(b);
        }
        if (x->started && x->client)
            count_error(x->r, 502);
    } else {
        up_chunk(u, x);
    }
    px_client_end(x);
    px_free(x);
}

/* ------------------------------------------------------------------ picking */

static void dec_record(rt_router *r, double s)
{
    size_t i = 0;
    while (i < NDEC && s > k_dec_le[i])
        i++;
    r->dec_bucket[i]++;
    r->dec_sum += s;
}

static double header_ms(struct evkeyvalq *h, const char *a, const char *b)
{
    const char *v = evhttp_find_header(h, a);
    if (!v)
        v = evhttp_find_header(h, b);
    double d = v ? strtod(v, NULL) : 0;
    return d > 0 && d < 1e9 ? d : 0;
}

/* Runs the policy for x; on success x->ep (and x->prefill_ep) hold references. */
static int px_pick(rt_px *x, char **err)
{
    rt_router *r = x->r;
    struct evkeyvalq *h = evhttp_request_get_input_headers(x->client);
    fp_header hs[32];
    size_t nh = 0;
    for (struct evkeyval *kv = h->tqh_first; kv && nh < 32; kv = kv->next.tqe_next)
        hs[nh++] = (fp_header){kv->key, kv->value};
    fp_request q = {.id = x->id, .model = x->body.model, .cache_salt = x->body.cache_salt,
                    .text = x->body.text, .text_len = x->body.text_len,
                    .max_tokens = x->body.max_tokens, .headers = hs, .nheaders = nh};
    q.slo_ttft_ms = header_ms(h, "x-llm-d-slo-ttft-ms", "x-slo-ttft-ms");
    q.slo_tpot_ms = header_ms(h, "x-llm-d-slo-tpot-ms", "x-slo-tpot-ms");
    fp_result res;
    int64_t t0 = now_ns();
    int rc = fp_pick(r->policy, &q, t0, &r->rng, &res, err);
    dec_record(r, (double)(now_ns() - t0) * 1e-9);
    if (rc < 0)
        return rc;
    x->picked = true;
    x->ep = ep_by_policy_id(r, res.decode);
    x->prefill_ep = res.prefill >= 0 ? ep_by_policy_id(r, (uint32_t)res.prefill) : NULL;
    assert(x->ep);
    x->ep->refs++;
    x->ep->picks++;
    if (x->prefill_ep) {
        x->prefill_ep->refs++;
        x->prefill_ep->picks++;
    }
    return 0;
}

/* Endpoint-picker mode: the decision in headers, no proxying. */
static void px_answer_pick(rt_px *x)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(x->client);
    evhttp_add_header(out, "x-gateway-destination-endpoint", x->ep->d.address);
    if (x->prefill_ep)
        evhttp_add_header(out, "x-prefiller-host-port", x->prefill_ep->d.address);
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add_printf(b, "{\"endpoint\":\"%s\",\"address\":\"%s\",\"prefill\":%s%s%s}\n",
                            x->ep->d.name, x->ep->d.address, x->prefill_ep ? "\"" : "",
                            x->prefill_ep ? x->prefill_ep->d.address : "null",
                            x->prefill_ep ? "\"" : "");
    struct evhttp_connection *c = evhttp_request_get_connection(x->client);
    if (c)
        evhttp_connection_set_closecb(c, NULL, NULL);
    reply_text(x->client, "application/json", b);
    if (b)
        evbuffer_free(b);
    x->client = NULL;
}

/* Picks (again, after a failed connection) and starts the upstream request. On failure
   the client has had its error reply; returns <0. */
static int px_pick_and_send(rt_px *x)
{
    rt_router *r = x->r;
    for (; x->tries < MAX_TRIES; x->tries++) {
        if (x->picked) {
            fp_request_end(r->policy, x->id, now_ns());
            x->picked = false;
        }
        if (x->ep)
            ep_unref(x->ep);
        if (x->prefill_ep)
            ep_unref(x->prefill_ep);
        x->ep = x->prefill_ep = NULL;
        char *err = NULL;
        int rc = px_pick(x, &err);
        if (rc < 0) {
            char *m = fu_asprintf("no endpoint can serve this request: %s", err ? err : "");
            px_client_error(x, rc == -ENOENT ? 503 : 500, m);
            free(m);
            free(err);
            return rc;
        }
        if (r->picker) {
            px_answer_pick(x);
            return 0;
        }
        int sent;
        if (x->prefill_ep) {
            char *pb = pd_prefill_body(x->body.root);
            sent = pb ? px_send(x, x->prefill_ep, EVHTTP_REQ_POST, pb, true) : -ENOMEM;
            free(pb);
        } else {
            sent = px_send(x, x->ep, EVHTTP_REQ_POST, x->decode_body, false);
        }
        if (sent == 0)
            return 0;
        ep_mark_down(r, x->ep, "could not connect");
    }
    px_client_error(x, 503, "no endpoint could be reached");
    return -EIO;
}

static rt_px *px_new(rt_router *r, struct evhttp_request *req)
{
    rt_px *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->r = r;
    x->client = req;
    x->id = ++r->next_id;
    x->uri = strdup(evhttp_request_get_uri(req));
    if (!x->uri) {
        free(x);
        return NULL;
    }
    r->inflight++;
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_client_close, x);
    return x;
}

static void handle_inference(rt_router *r, struct evhttp_request *req, bool chat)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply_error(r, req, 405, "use POST");
        return;
    }
    if (r->draining) {
        reply_error(r, req, 503, "the router is shutting down");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *p = (const char *)evbuffer_pullup(in, -1);
    rt_body b;
    char *err = NULL;
    if (rt_body_parse(p ? p : "", p ? len : 0, chat, &b, &err) < 0) {
        reply_error(r, req, 400, err ? err : "malformed body");
        free(err);
        return;
    }
    rt_px *x = px_new(r, req);
    if (!x) {
        rt_body_free(&b);
        reply_error(r, req, 500, "out of memory");
        return;
    }
    x->body = b;
    x->chat = chat;
    x->decode_body = r->picker ? NULL : strndup(p, len);
    if (px_pick_and_send(x) < 0 || r->picker)
        px_free(x);
}

/* /v1/models and other GETs: relayed from any live endpoint, no decision. */
static void handle_passthrough(rt_router *r, struct evhttp_request *req)
{
    rt_ep *e = NULL;
    for (size_t i = 0; i < r->neps && !e; i++)
        if (r->eps[i]->in_policy)
            e = r->eps[i];
    if (!e) {
        reply_error(r, req, 503, "no endpoint is up");
        return;
    }
    rt_px *x = px_new(r, req);
    if (!x) {
        reply_error(r, req, 500, "out of memory");
        return;
    }
    x->ep = e;
    e->refs++;
    x->tries = MAX_TRIES;
    if (px_send(x, e, EVHTTP_REQ_GET, NULL, false) < 0) {
        px_client_error(x, 502, "could not reach the model server");
        px_free(x);
    }
}

/* ------------------------------------------------------------------ own endpoints */

static void metrics_endpoints(rt_router *r, struct evbuffer *b)
{
    evbuffer_add_printf(b, "# TYPE fleetsim_router_picks_total counter\n"
                           "# TYPE fleetsim_router_endpoint_up gauge\n"
                           "# TYPE fleetsim_router_endpoint_metrics_age_seconds gauge\n");
    int64_t now = now_ns();
    for (size_t i = 0; i < r->neps; i++) {
        rt_ep *e = r->eps[i];
        evbuffer_add_printf(b, "fleetsim_router_picks_total{endpoint=\"%s\"} %" PRIu64 "\n",
                            e->d.name, e->picks);
        evbuffer_add_printf(b, "fleetsim_router_endpoint_up{endpoint=\"%s\"} %d\n",
                            e->d.name, e->in_policy);
        evbuffer_add_printf(b, "fleetsim_router_endpoint_metrics_age_seconds{endpoint=\"%s\"}"
                               " %.3f\n", e->d.name,
                            e->last_ok_ns ? (double)(now - e->last_ok_ns) * 1e-9 : -1.0);
    }
}

static void handle_metrics(rt_router *r, struct evhttp_request *req)
{
    static const int codes[] = {400, 404, 413, 502, 503, 500};
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evbuffer_add_printf(b, "# TYPE fleetsim_router_requests_total counter\n"
                           "fleetsim_router_requests_total %" PRIu64 "\n"
                           "# TYPE fleetsim_router_retries_total counter\n"
                           "fleetsim_router_retries_total %" PRIu64 "\n"
                           "# TYPE fleetsim_router_upstream_connections_total counter\n"
                           "fleetsim_router_upstream_connections_total %" PRIu64 "\n"
                           "# TYPE fleetsim_router_inflight gauge\n"
                           "fleetsim_router_inflight %d\n"
                           "# TYPE fleetsim_router_errors_total counter\n",
                        r->requests, r->retries, r->connects, r->inflight);
    for (size_t i = 0; i < 6; i++)
        evbuffer_add_printf(b, "fleetsim_router_errors_total{code=\"%d\"} %" PRIu64 "\n",
                            codes[i], r->errors[i]);
    metrics_endpoints(r, b);
    evbuffer_add_printf(b, "# TYPE fleetsim_router_decision_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i <= NDEC; i++) {
        cum += r->dec_bucket[i];
        if (i < NDEC)
            evbuffer_add_printf(b, "fleetsim_router_decision_seconds_bucket{le=\"%g\"} %"
                                   PRIu64 "\n", k_dec_le[i], cum);
        else
            evbuffer_add_printf(b, "fleetsim_router_decision_seconds_bucket{le=\"+Inf\"} %"
                                   PRIu64 "\n", cum);
    }
    evbuffer_add_printf(b, "fleetsim_router_decision_seconds_sum %.9f\n"
                           "fleetsim_router_decision_seconds_count %" PRIu64 "\n",
                        r->dec_sum, cum);
    reply_text(req, "text/plain; version=0.0.4", b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    rt_router *r = arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if (!path) {
        reply_error(r, req, 400, "bad request target");
        return;
    }
    r->requests++;
    if (strcmp(path, "/v1/completions") == 0)
        handle_inference(r, req, false);
    else if (strcmp(path, "/v1/chat/completions") == 0)
        handle_inference(r, req, true);
    else if (strcmp(path, "/v1/models") == 0)
        handle_passthrough(r, req);
    else if (strcmp(path, "/metrics") == 0)
        handle_metrics(r, req);
    else if (strcmp(path, "/health") == 0 && !r->draining) {
        struct evbuffer *b = evbuffer_new();
        evbuffer_add_printf(b, "ok\n");
        reply_text(req, "text/plain", b);
        evbuffer_free(b);
    } else if (strcmp(path, "/health") == 0)
        reply_error(r, req, 503, "draining");
    else
        reply_error(r, req, 404, "no such path");
}

/* ------------------------------------------------------------------ signals, main */

static void on_hup(evutil_socket_t s, short w, void *arg)
{
    load_endpoints(arg);
}

static void on_drain_deadline(evutil_socket_t s, short w, void *arg)
{
    rt_router *r = arg;
    fprintf(stderr, "fleetsim-router: drain timeout with %d requests in flight\n",
            r->inflight);
    event_base_loopexit(r->base, NULL);
}

static void on_term(evutil_socket_t s, short w, void *arg)
{
    rt_router *r = arg;
    if (r->draining)
        return;
    r->draining = true;
    if (r->sock)
        evhttp_del_accept_socket(r->http, r->sock);
    r->sock = NULL;
    fprintf(stderr, "fleetsim-router: draining %d requests in flight\n", r->inflight);
    if (r->inflight == 0 && r->flushing == 0) {
        event_base_loopexit(r->base, NULL);
        return;
    }
    struct timeval tv = {(time_t)r->drain_timeout_s,
                         (suseconds_t)((r->drain_timeout_s - (time_t)r->drain_timeout_s) * 1e6)};
    r->drain_deadline = evtimer_new(r->base, on_drain_deadline, r);
    if (r->drain_deadline)
        evtimer_add(r->drain_deadline, &tv);
}

typedef struct rt_opts {
    const char *config, *policy, *endpoints, *listen, *port_file;
    double scrape_ms, drain_s;
    long max_body, client_timeout_s, upstream_timeout_s;
    uint64_t seed;
    bool picker;
} rt_opts;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: fleetsim-router --endpoints FILE [--config EPP.yaml | --policy NAME]\n"
        "                       [--listen HOST:PORT] [options]\n"
        "An HTTP router for OpenAI-compatible model servers that picks with libfleetpolicy.\n"
        "  --endpoints FILE        YAML list of {name, address: host:port, labels}; SIGHUP reloads\n"
        "  --config FILE           EndpointPickerConfig (llm-d.ai/v1alpha1)\n"
        "  --policy NAME           a built-in policy instead (default, round-robin, pd, ...)\n"
        "  --listen HOST:PORT      where to serve (default 127.0.0.1:8000; port 0 = any)\n"
        "  --port-file FILE        write the port actually bound to FILE\n"
        "  --picker                endpoint-picker mode: answer with\n"
        "                          x-gateway-destination-endpoint, do not proxy\n"
        "  --scrape-interval-ms N  /metrics refresh period (default 50)\n"
        "  --max-body BYTES        request body limit, 413 above it (default 1048576)\n"
        "  --client-timeout S      idle timeout of client connections (default 60)\n"
        "  --upstream-timeout S    idle timeout of model-server connections (default 600)\n"
        "  --drain-timeout S       SIGTERM waits this long for streams (default 30)\n"
        "  --seed N                seed of the tie-breaking random source (default 1)\n");
}

static int parse_opts(int argc, char **argv, rt_opts *o)
{
    static const struct option lo[] = {
        {"endpoints", 1, 0, 'e'}, {"config", 1, 0, 'c'}, {"policy", 1, 0, 'p'},
        {"listen", 1, 0, 'l'}, {"port-file", 1, 0, 'P'}, {"picker", 0, 0, 'k'},
        {"scrape-interval-ms", 1, 0, 's'}, {"max-body", 1, 0, 'b'},
        {"client-timeout", 1, 0, 't'}, {"upstream-timeout", 1, 0, 'u'},
        {"drain-timeout", 1, 0, 'd'}, {"seed", 1, 0, 'S'}, {"help", 0, 0, 'h'}, {0}};
    *o = (rt_opts){.listen = "127.0.0.1:8000", .scrape_ms = 50, .drain_s = 30,
                   .max_body = 1 << 20, .client_timeout_s = 60, .upstream_timeout_s = 600,
                   .seed = 1};
    int c;
    char *end = NULL;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        end = NULL;
        switch (c) {
        case 'e': o->endpoints = optarg; break;
        case 'c': o->config = optarg; break;
        case 'p': o->policy = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'P': o->port_file = optarg; break;
        case 'k': o->picker = true; break;
        case 's': o->scrape_ms = strtod(optarg, &end); break;
        case 'b': o->max_body = strtol(optarg, &end, 10); break;
        case 't': o->client_timeout_s = strtol(optarg, &end, 10); break;
        case 'u': o->upstream_timeout_s = strtol(optarg, &end, 10); break;
        case 'd': o->drain_s = strtod(optarg, &end); break;
        case 'S': o->seed = strtoull(optarg, &end, 10); break;
        case 'h': usage(stdout); exit(0);
        default: return -EINVAL;
        }
        if (end && *end) {
            fprintf(stderr, "fleetsim-router: bad number '%s'\n", optarg);
            return -EINVAL;
        }
    }
    if (!o->endpoints || optind != argc || (o->config && o->policy) || o->scrape_ms < 1 ||
        o->max_body < 1 || o->client_timeout_s < 1 || o->upstream_timeout_s < 1 ||
        o->drain_s < 0) {
        fprintf(stderr, "fleetsim-router: bad arguments (see --help)\n");
        return -EINVAL;
    }
    return 0;
}

static int write_port_file(rt_router *r, const char *path)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(r->sock);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -errno;
    int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    char text[16];
    snprintf(text, sizeof text, "%d\n", port);
    return fu_write_file_atomic(path, text);
}

static int setup_policy(rt_router *r, const rt_opts *o)
{
    char *err = NULL;
    int rc = o->config ? fp_policy_load_file(o->config, &r->policy, &err)
                       : fp_policy_builtin(o->policy ? o->policy : "default", &r->policy, &err);
    if (rc < 0) {
        fprintf(stderr, "fleetsim-router: %s\n", err ? err : "cannot load the policy");
        free(err);
    }
    fp_rng_seed(&r->rng, o->seed);
    return rc;
}

static int setup_server(rt_router *r, const rt_opts *o)
{
    char *host;
    uint16_t port;
    bool any = false;
    if (rt_split_hostport(o->listen, &host, &port) < 0) {
        const char *c = strrchr(o->listen, ':');
        if (!c || strcmp(c, ":0") != 0 || !(host = strndup(o->listen, (size_t)(c - o->listen)))) {
            fprintf(stderr, "fleetsim-router: --listen: expected HOST:PORT\n");
            return -EINVAL;
        }
        any = true;
        port = 0;
    }
    (void)any;
    r->http = evhttp_new(r->base);
    if (r->http) {
        evhttp_set_max_body_size(r->http, (ev_ssize_t)o->max_body);
        evhttp_set_timeout(r->http, (int)o->client_timeout_s);
        evhttp_set_allowed_methods(r->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
        evhttp_set_gencb(r->http, on_request, r);
        r->sock = evhttp_bind_socket_with_handle(r->http, host, port);
    }
    if (!r->sock) {
        fprintf(stderr, "fleetsim-router: cannot listen on %s\n", o->listen);
    } else {
        /* Streams relay small chunks: without TCP_NODELAY (inherited by every accepted
         * socket) Nagle and the client's delayed ACK hold a chunk up to 40 ms. */
        int one = 1;
        setsockopt(evhttp_bound_socket_get_fd(r->sock), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof one);
    }
    free(host);
    if (!r->sock)
        return -EIO;
    if (o->port_file && write_port_file(r, o->port_file) < 0) {
        fprintf(stderr, "fleetsim-router: cannot write %s\n", o->port_file);
        return -EIO;
    }
    return 0;
}

static int setup_events(rt_router *r, const rt_opts *o)
{
    struct timeval tv = {(time_t)(o->scrape_ms / 1000),
                         (suseconds_t)(((long)o->scrape_ms % 1000) * 1000)};
    r->tick = event_new(r->base, -1, EV_PERSIST, on_tick, r);
    r->ev_reap = event_new(r->base, -1, 0, on_reap, r);
    r->ev_hup = evsignal_new(r->base, SIGHUP, on_hup, r);
    r->ev_term = evsignal_new(r->base, SIGTERM, on_term, r);
    r->ev_int = evsignal_new(r->base, SIGINT, on_term, r);
    if (!r->tick || !r->ev_reap || !r->ev_hup || !r->ev_term || !r->ev_int)
        return -ENOMEM;
    event_add(r->tick, &tv);
    event_add(r->ev_hup, NULL);
    event_add(r->ev_term, NULL);
    event_add(r->ev_int, NULL);
    return 0;
}

static void teardown(rt_router *r)
{
    /* Freeing the signal events restores the default actions; a second SIGTERM (a
       supervisor such as timeout(1) signals the whole process group) must not kill
       the process in the middle of its cleanup. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    struct event *evs[] = {r->tick, r->ev_hup, r->ev_term, r->ev_int, r->drain_deadline,
                           r->ev_reap};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    while (r->neps)
        ep_drop(r, r->neps - 1);
    free(r->eps);
    on_reap(-1, 0, r);
    free(r->dead);
    if (r->http)
        evhttp_free(r->http);
    fp_policy_free(r->policy);
    if (r->base)
        event_base_free(r->base);
}

int main(int argc, char **argv)
{
    rt_opts o;
    rt_router r = {0};
    if (parse_opts(argc, argv, &o) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    r.endpoints_path = o.endpoints;
    r.picker = o.picker;
    r.timeout_s = (int)o.upstream_timeout_s;
    r.drain_timeout_s = o.drain_s;
    r.scrape_ns = (int64_t)(o.scrape_ms * 1e6);
    int rc = setup_policy(&r, &o);
    /* epoll changelist: evhttp flips read/write interest several times per request;
       batching those epoll_ctl calls into one per loop turn is the cheap part of the
       per-request cost (a connection per request is the expensive one). */
    struct event_config *ecfg = rc == 0 ? event_config_new() : NULL;
    if (ecfg) {
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        r.base = event_base_new_with_config(ecfg);
        event_config_free(ecfg);
    }
    if (rc == 0 && !r.base)
        rc = -ENOMEM;
    if (rc == 0)
        rc = load_endpoints(&r);
    if (rc == 0)
        rc = setup_server(&r, &o);
    if (rc == 0)
        rc = setup_events(&r, &o);
    if (rc == 0) {
        fprintf(stderr, "fleetsim-router: serving on %s (%s)\n", o.listen,
                o.picker ? "endpoint picker" : "proxy");
        event_base_dispatch(r.base);
    }
    teardown(&r);
    return rc == 0 ? 0 : rc == -EINVAL ? 2 : 1;
}
