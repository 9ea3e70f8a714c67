/*
 * cluster.c: the run loop of one scenario.
 *
 * Two kinds of events drive a run: an arrival (the next request of the workload) and
 * a step completion (a replica's forward pass ended). Only one arrival is pending at a
 * time: when it pops, the next request is pulled from the source, so a trace of any
 * length replays in memory proportional to the requests in flight. Request records
 * come from a free list and go back to it at finish, so the steady state allocates
 * nothing. At equal times completions pop before arrivals (lower priority value), which
 * fixes the order and makes runs byte-for-byte reproducible.
 *
 * Routing is least-loaded (fewest requests in flight, lowest index on ties) until the
 * policy library takes over; with one replica it is trivial.
 */
#include "cluster.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "evq.h"
#include "fm_latency.h"
#include "fu_yaml.h"

enum { EV_STEP_DONE = 1, EV_ARRIVAL = 2, EV_TICK = 3 };
enum { PRIO_STEP_DONE = 0, PRIO_ARRIVAL = 1, PRIO_TICK = 2 };
#define PROGRESS_EVERY 65536
#define INLINE_SEGS 4

/* One request in flight. */
typedef struct sim_req {
    fs_engine_req er;            /* first: the engine's view */
    ft_segment inline_segs[INLINE_SEGS];
    ft_segment *segs;            /* inline_segs or a malloc'd array */
    fs_ns arrival;
    fs_ns prev_token;
    int replica;
    struct sim_req *next_free;
} sim_req;

typedef struct replica {
    int index;
    fs_engine *engine;
    fm_latency *latency;
    int in_flight;
    struct cluster *cl;
    double busy_window_s;        /* busy accelerator-seconds since the last sample */
    uint64_t prompt_prev, output_prev; /* engine counters at the last sample */
} replica;

typedef struct cluster {
    const fs_scenario *sc;
    const fs_run_observer *obs;  /* never NULL: a no-op observer stands in */
    fs_evq *q;
    ft_source *src;
    fs_metrics *metrics;
    replica *reps;
    int nreps;
    sim_req *free_list;
    uint64_t next_id;
    fs_ns last_finish;
    double busy_s, prefill_s, decode_s;  /* accelerator-seconds */
    fs_ns gap_run;               /* inter-token gap being counted ... */
    uint64_t gap_count;          /* ... and how many tokens had it (see on_token) */
    uint64_t steps, completed;
    fs_ns sample_period;
} cluster;

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* --- request records --- */

static sim_req *req_get(cluster *cl)
{
    sim_req *r = cl->free_list;
    if (r)
        cl->free_list = r->next_free;
    else
        r = malloc(sizeof *r);
    return r;
}

static void req_put(cluster *cl, sim_req *r)
{
    if (r->segs != r->inline_segs)
        free(r->segs);
    r->next_free = cl->free_list;
    cl->free_list = r;
}

static void req_pool_free(cluster *cl)
{
    while (cl->free_list) {
        sim_req *r = cl->free_list;
        cl->free_list = r->next_free;
        free(r);
    }
}

/* Copies a source request (whose segments the source owns) into a record. */
static int req_fill(cluster *cl, sim_req *r, const ft_request *in)
{
    memset(&r->er, 0, sizeof r->er);
    r->segs = in->nsegs <= INLINE_SEGS ? r->inline_segs : malloc(in->nsegs * sizeof *r->segs);
    if (!r->segs)
        return -ENOMEM;
    memcpy(r->segs, in->segs, in->nsegs * sizeof *r->segs);
    r->er.id = ++cl->next_id;
    r->er.segs = r->segs;
    r->er.nsegs = in->nsegs;
    r->er.prompt_len = in->input_tokens;
    r->er.max_output = in->output_tokens;
    r->er.priority = in->priority;
    r->er.output_content = in->output_content;
    r->er.user = r;
    r->arrival = in->arrival_ns;
    r->replica = -1;
    return 0;
}

/* --- stepping --- */

/*
 * Counts a step's busy accelerator-seconds and splits them between prefill and decode
 * by token counts: a chunk of 2,000 prompt tokens beside 50 decodes takes 98 % of that
 * step. Rejected: splitting by predicted FLOPs, which would tie cost accounting to one
 * latency model's internals.
 */
static void attribute_step(cluster *cl, const fm_seq_work *w, size_t n, double acc_s)
{
    uint64_t pre = 0, dec = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].new_tokens == 1 && w[i].context > 0)
            dec++;
        else
            pre += w[i].new_tokens;
    }
    double share = pre + dec ? (double)pre / (double)(pre + dec) : 0;
    cl->busy_s += acc_s;
    cl->prefill_s += acc_s * share;
    cl->decode_s += acc_s * (1 - share);
}

/* Starts the replica's next step if it is idle and has work. */
static int kick(cluster *cl, replica *rep)
{
    fs_ns now = fs_evq_now(cl->q);
    if (fs_engine_busy(rep->engine) || fs_engine_schedule(rep->engine, now) == 0)
        return 0;
    size_t n;
    const fm_seq_work *w = fs_engine_batch(rep->engine, &n);
    fm_step_breakdown bd;
    double t = fm_latency_step(rep->latency, w, n, &bd);
    fs_ns dt = (fs_ns)llround(t * 1e9);
    if (dt < 1)
        dt = 1;
    /* The fixed per-step overhead (scheduling, launches) leaves the accelerator idle. */
    double active = t - bd.overhead > 0 ? t - bd.overhead : 0;
    attribute_step(cl, w, n, active * cl->sc->tp);
    rep->busy_window_s += active;
    cl->steps++;
    return fs_evq_push(cl->q, now + dt, PRIO_STEP_DONE, EV_STEP_DONE, rep) ? 0 : -ENOMEM;
}

/* --- engine callbacks --- */

/*
 * Tokens of one decode step mostly share one gap (the step's duration), so gaps are
 * counted in runs of equal values and handed to the metrics once per run.
 */
static void on_token(void *ctx, fs_engine_req *er, fs_ns now)
{
    cluster *cl = ctx;
    sim_req *r = er->user;
    if (er->num_output > 1) {
        fs_ns gap = now - r->prev_token;
        if (gap != cl->gap_run) {
            fs_metrics_token_gaps(cl->metrics, cl->gap_run, cl->gap_count);
            cl->gap_run = gap;
            cl->gap_count = 0;
        }
        cl->gap_count++;
    }
    r->prev_token = now;
}

static void on_finish(void *ctx, fs_engine_req *er, fs_ns now)
{
    cluster *cl = ctx;
    sim_req *r = er->user;
    fs_req_record rec = {
        .id = er->id, .arrival = r->arrival, .first_scheduled = er->first_scheduled,
        .first_token = er->first_token, .finish = now, .input_tokens = er->prompt_len,
        .output_tokens = er->num_output, .cached_tokens = er->num_cached,
        .preemptions = er->preemptions, .replica = r->replica,
    };
    fs_metrics_request(cl->metrics, &rec);
    cl->completed++;
    if (cl->obs->on_request)
        cl->obs->on_request(cl->obs->ctx, &rec);
    cl->reps[r->replica].in_flight--;
    if (now > cl->last_finish)
        cl->last_finish = now;
    req_put(cl, r);
}

/* --- arrivals --- */

/* Pulls the next request from the source and schedules its arrival. */
static int pull_next(cluster *cl, char **err)
{
    ft_request in;
    int rc = ft_source_next(cl->src, &in, err);
    if (rc <= 0)
        return rc;
    sim_req *r = req_get(cl);
    if (!r || req_fill(cl, r, &in) < 0) {
        if (r)
            req_put(cl, r);
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    }
    fs_ns at = in.arrival_ns < fs_evq_now(cl->q) ? fs_evq_now(cl->q) : in.arrival_ns;
    if (!fs_evq_push(cl->q, at, PRIO_ARRIVAL, EV_ARRIVAL, r))
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    return 1;
}

static replica *route(cluster *cl)
{
    replica *best = &cl->reps[0];
    for (int i = 1; i < cl->nreps; i++)
        if (cl->reps[i].in_flight < best->in_flight)
            best = &cl->reps[i];
    return best;
}

static int on_arrival(cluster *cl, sim_req *r, char **err)
{
    replica *rep = route(cl);
    int rc = fs_engine_add(rep->engine, &r->er, fs_evq_now(cl->q));
    if (rc == -EINVAL) {          /* can never fit: counted, not fatal */
        fs_metrics_rejected(cl->metrics);
        if (cl->obs->on_request) {
            fs_req_record rec = {.id = r->er.id, .arrival = r->arrival,
                                 .input_tokens = r->er.prompt_len, .replica = -1};
            cl->obs->on_request(cl->obs->ctx, &rec);
        }
        req_put(cl, r);
    } else if (rc < 0) {
        req_put(cl, r);
        return fail(err, fu_asprintf("out of memory"), rc);
    } else {
        r->replica = rep->index;
        rep->in_flight++;
        if ((rc = kick(cl, rep)) < 0)
            return fail(err, fu_asprintf("out of memory"), rc);
    }
    rc = pull_next(cl, err);
    return rc < 0 ? rc : 0;
}

/* --- observation --- */

static void sample_replica(cluster *cl, replica *rep, fs_ns now)
{
    fs_engine_stats st;
    fs_engine_get_stats(rep->engine, &st);
    double period = (double)cl->sample_period / 1e9, util = rep->busy_window_s / period;
    const fm_accel *a = &cl->sc->accel;
    fs_replica_sample s = {
        .t = now, .replica = rep->index, .waiting = st.waiting, .running = st.running,
        .kv_usage = st.kv_usage,
        .input_tps = (double)(st.prompt_tokens_computed - rep->prompt_prev) / period,
        .output_tps = (double)(st.output_tokens - rep->output_prev) / period,
        .utilisation = util > 1 ? 1 : util,
    };
    s.power_w = cl->sc->tp * (a->idle_w + s.utilisation * (a->tdp_w - a->idle_w));
    rep->prompt_prev = st.prompt_tokens_computed;
    rep->output_prev = st.output_tokens;
    rep->busy_window_s = 0;
    cl->obs->on_sample(cl->obs->ctx, &s);
}

/* Samples every replica, and schedules the next tick while anything else is pending. */
static int on_tick(cluster *cl)
{
    fs_ns now = fs_evq_now(cl->q);
    for (int i = 0; i < cl->nreps; i++)
        sample_replica(cl, &cl->reps[i], now);
    if (fs_evq_size(cl->q) == 0)
        return 0;
    return fs_evq_push(cl->q, now + cl->sample_period, PRIO_TICK, EV_TICK, NULL) ? 0 : -ENOMEM;
}

static void progress(cluster *cl)
{
    uint64_t in_flight = 0;
    for (int i = 0; i < cl->nreps; i++)
        in_flight += (uint64_t)cl->reps[i].in_flight;
    cl->obs->on_progress(cl->obs->ctx, fs_evq_now(cl->q), cl->completed, in_flight);
}

static int loop(cluster *cl, uint64_t *events, char **err)
{
    int rc = pull_next(cl, err);
    fs_event ev;
    if (rc >= 0 && cl->obs->on_sample &&
        !fs_evq_push(cl->q, cl->sample_period, PRIO_TICK, EV_TICK, NULL))
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    while (rc >= 0 && fs_evq_size(cl->q) > 0) {
        fs_evq_pop(cl->q, &ev);
        if (++*events % PROGRESS_EVERY == 0 && cl->obs->on_progress)
            progress(cl);
        if (ev.kind == EV_TICK) {
            if ((rc = on_tick(cl)) < 0)
                rc = fail(err, fu_asprintf("out of memory"), rc);
        } else if (ev.kind == EV_ARRIVAL) {
            rc = on_arrival(cl, ev.data, err);
        } else {
            replica *rep = ev.data;
            fs_engine_complete(rep->engine, ev.time);
            rc = kick(cl, rep);
            if (rc < 0)
                rc = fail(err, fu_asprintf("out of memory"), rc);
        }
    }
    return rc < 0 ? rc : 0;
}

/* --- set-up and tear-down --- */

int fs_cluster_size_kv(const fs_scenario *sc, fm_kv_sizing *out, char **err)
{
    const fs_engine_config *e = &sc->engine;
    int rc = fm_kv_size(&sc->accel, &sc->llm, sc->tp, sc->gpu_memory_utilization,
                        e->block_size, e->max_num_batched_tokens, e->max_num_seqs, out, err);
    if (rc == 0 && sc->num_gpu_blocks_override > 0) {
        out->num_blocks = sc->num_gpu_blocks_override;
        out->num_tokens = out->num_blocks * e->block_size;
    }
    return rc;
}

static int replicas_new(cluster *cl, int64_t blocks, char **err)
{
    const fs_scenario *sc = cl->sc;
    fs_engine_config ec = sc->engine;
    ec.num_blocks = blocks;
    fs_engine_observer obs = {.ctx = cl, .on_token = on_token, .on_finish = on_finish};
    cl->reps = calloc((size_t)sc->replicas, sizeof *cl->reps);
    if (!cl->reps)
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    cl->nreps = sc->replicas;
    for (int i = 0; i < cl->nreps; i++) {
        replica *rep = &cl->reps[i];
        rep->index = i;
        rep->cl = cl;
        int rc = fs_engine_new(&ec, &obs, &rep->engine, err);
        if (rc == 0)
            rc = fm_latency_new_with(sc->latency_model, &sc->accel, &sc->llm, sc->tp,
                                     sc->latency_params, &rep->latency, err);
        if (rc)
            return rc;
    }
    return 0;
}

static void cluster_free(cluster *cl)
{
    for (int i = 0; cl->reps && i < cl->nreps; i++) {
        fs_engine_free(cl->reps[i].engine);
        fm_latency_free(cl->reps[i].latency);
    }
    free(cl->reps);
    /* Events still queued after an error own their request records. */
    fs_event ev;
    while (cl->q && fs_evq_size(cl->q) > 0) {
        fs_evq_pop(cl->q, &ev);
        if (ev.kind == EV_ARRIVAL)
            req_put(cl, ev.data);
    }
    req_pool_free(cl);
    fs_evq_free(cl->q);
    ft_source_free(cl->src);
    fs_metrics_free(cl->metrics);
}

static void summarize(cluster *cl, fs_run_result *out)
{
    const fs_scenario *sc = cl->sc;
    fs_cost_inputs ci = {
        .accelerators = sc->replicas * sc->tp,
        .price_per_hour = sc->accel.price_per_hour,
        .tdp_w = sc->accel.tdp_w,
        .idle_w = sc->accel.idle_w,
        .makespan_s = (double)cl->last_finish / 1e9,
        .busy_s = cl->busy_s,
        .prefill_s = cl->prefill_s,
        .decode_s = cl->decode_s,
    };
    fs_metrics_token_gaps(cl->metrics, cl->gap_run, cl->gap_count);
    cl->gap_count = 0;
    fs_metrics_summarize(cl->metrics, &ci, &out->summary);
    out->steps = cl->steps;
}

int fs_cluster_run(const fs_scenario *sc, fs_run_result *out, char **err)
{
    return fs_cluster_run_observed(sc, NULL, out, err);
}

int fs_cluster_run_observed(const fs_scenario *sc, const fs_run_observer *obs,
                            fs_run_result *out, char **err)
{
    static const fs_run_observer nobody;
    cluster cl = {.sc = sc, .obs = obs ? obs : &nobody};
    cl.sample_period = cl.obs->sample_period > 0 ? cl.obs->sample_period : FS_NS_PER_S;
    memset(out, 0, sizeof *out);
    int rc = fs_cluster_size_kv(sc, &out->kv, err);
    if (rc)
        return rc;
    cl.q = fs_evq_new();
    cl.metrics = fs_metrics_new(&sc->slo);
    if (!cl.q || !cl.metrics)
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    if (rc == 0)
        rc = replicas_new(&cl, out->kv.num_blocks, err);
    if (rc == 0)
        rc = fs_scenario_open_workload(sc, &cl.src, err);
    if (rc == 0)
        rc = loop(&cl, &out->events, err);
    if (rc == 0)
        summarize(&cl, out);
    cluster_free(&cl);
    return rc;
}
