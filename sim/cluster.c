/*
 * cluster.c: the run loop of one scenario: pools of replicas, a router, P/D transfers.
 *
 * Events that drive a run: an arrival (the next request of the workload), a step
 * completion (a replica's forward pass ended), a router refresh (endpoint snapshots, on
 * the router's period), a KV transfer ending on a link, a transferred request reaching
 * its decode replica, and a sample tick for observers. Only one arrival is pending at a
 * time: when it pops, the next request is pulled from the source, so a trace of any
 * length replays in memory proportional to the requests in flight. Request records come
 * from a free list and go back to it at finish, so the steady state allocates nothing.
 * Events at equal times pop in a fixed priority order (completions first, ticks last),
 * which makes runs byte-for-byte reproducible.
 *
 * A request's life: the router (libfleetpolicy, routing.c) picks a decode replica and,
 * when its decider disaggregates, a prefill replica. Aggregated, the request runs on the
 * decode replica's engine. Disaggregated, it first runs on the prefill replica with one
 * output token (vLLM's do_remote_decode); when that finishes, its prompt's KV moves over
 * the link between the two replicas (NVLink inside a node, the NIC across nodes of a
 * rack, the oversubscribed spine across racks; shared by concurrent transfers,
 * kvlink.c), and then it joins the decode replica with the transferred tokens counted
 * as computed, emitting its first token after one step, as vLLM's NIXL connector does. Simplification: the prefill replica frees its blocks when
 * the prefill ends, where vLLM holds them until the decode side has read them.
 */
#include "cluster.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "evq.h"
#include "fm_fit.h"
#include "fm_latency.h"
#include "fu_yaml.h"
#include "kvlink.h"
#include "routing.h"

enum { EV_STEP_DONE = 1, EV_ARRIVAL, EV_LINK, EV_KV_ARRIVED, EV_REFRESH, EV_TICK };
enum { PRIO_STEP_DONE, PRIO_LINK, PRIO_KV_ARRIVED, PRIO_ARRIVAL, PRIO_REFRESH, PRIO_TICK };
#define PROGRESS_EVERY 65536
#define INLINE_SEGS 4
#define ROUTER_SEED_SALT UINT64_C(0x9e3779b97f4a7c15)

/*
 * One request in flight. Records are cache-line aligned and er comes first, so what a
 * decode step touches (er's first FS_ENGINE_REQ_HOT bytes) is one cache line, the one
 * the engine prefetches before it completes the step.
 */
typedef struct sim_req {
    fs_engine_req er;            /* the decode (or aggregated) part */
    fs_engine_req pre;           /* the prefill part when disaggregated */
    ft_segment inline_segs[INLINE_SEGS];
    ft_segment *segs;            /* inline_segs or a malloc'd array */
    fs_ns arrival;
    fs_ns transfer_start;        /* when the prefill ended (P/D) */
    fs_ns kv_transfer;           /* prefill end -> KV at the decode replica (P/D) */
    int replica, prefill_replica;
    int cls;                     /* workload class (routing) */
    uint64_t session;
    struct sim_req *next_free;
} sim_req;

struct cluster;

/* One direction of a path out of a prefill replica: NVLink or the NIC. */
typedef struct link {
    fs_kvlink *kv;
    fs_ns latency;
    fs_event_id pending;         /* the link's next completion event, 0 = none */
} link;

typedef struct replica {
    int index, pool, node, rack;
    fs_engine *engine;
    fm_latency *latency;
    int in_flight;
    struct cluster *cl;
    double busy_s, prefill_s, decode_s; /* accelerator-seconds over the run */
    double busy_window_s;        /* busy seconds since the last sample (not x tp) */
    uint64_t prompt_prev, output_prev; /* engine counters at the last sample */
    link intra, scaleout, spine; /* out of this replica, for P/D transfers: NVLink,
                                    the NIC inside the rack, the NIC across racks */
} replica;

typedef struct cluster {
    const fs_scenario *sc;
    const fs_run_observer *obs;  /* never NULL: a no-op observer stands in */
    fs_evq *q;
    ft_source *src;
    fs_metrics *metrics;
    fs_routing *routing;
    replica *reps;
    fs_route_target *targets;
    int nreps;
    fm_kv_sizing *kv;            /* per pool */
    sim_req *free_list;
    uint64_t next_id;
    fs_ns last_finish;
    fs_ns gap_run;               /* inter-token gap being counted ... */
    uint64_t gap_count;          /* ... and how many tokens had it (see on_token_gaps) */
    uint64_t steps, completed;
    fs_ns sample_period;
    int failed;                  /* an error inside a callback (-ENOMEM), ends the run */
} cluster;

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

static int oom(char **err) { return fail(err, fu_asprintf("out of memory"), -ENOMEM); }

static const fs_pool *pool_of(const cluster *cl, const replica *rep)
{
    return &cl->sc->pools[rep->pool];
}

/* --- request records --- */

_Static_assert(offsetof(sim_req, er) + FS_ENGINE_REQ_HOT <= 64,
               "the per-step fields of er lie in the record's first cache line");

static sim_req *req_get(cluster *cl)
{
    sim_req *r = cl->free_list;
    if (r)
        cl->free_list = r->next_free;
    else
        r = aligned_alloc(64, (sizeof *r + 63) / 64 * 64);
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
    memset(&r->pre, 0, sizeof r->pre);
    r->segs = in->nsegs <= INLINE_SEGS ? r->inline_segs : malloc(in->nsegs * sizeof *r->segs);
    if (!r->segs)
        return -ENOMEM;
    memcpy(r->segs, in->segs, in->nsegs * sizeof *r->segs);
    r->er.id = ++cl->next_id;
    r->er.segs = r->segs;
    r->er.nsegs = in->nsegs;
    r->er.prompt_len = in->input_tokens;
    r->er.max_output = in->output_tokens;
    r->er.output_content = in->output_content;
    r->er.priority = in->priority;
    r->er.user = r;
    r->arrival = in->arrival_ns;
    r->cls = in->cls;
    r->session = in->session;
    r->replica = r->prefill_replica = -1;
    r->kv_transfer = 0;
    return 0;
}

/* --- stepping --- */

/*
 * Counts a step's busy accelerator-seconds and splits them between prefill and decode
 * by token counts: a chunk of 2,000 prompt tokens beside 50 decodes takes 98 % of that
 * step. Rejected: splitting by predicted FLOPs, which would tie cost accounting to one
 * latency model's internals.
 */
static void attribute_step(replica *rep, const fm_seq_work *w, size_t n, double acc_s)
{
    uint64_t pre = 0, dec = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i].new_tokens == 1 && w[i].context > 0)
            dec++;
        else
            pre += w[i].new_tokens;
    }
    double share = pre + dec ? (double)pre / (double)(pre + dec) : 0;
    rep->busy_s += acc_s;
    rep->prefill_s += acc_s * share;
    rep->decode_s += acc_s * (1 - share);
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
    attribute_step(rep, w, n, active * pool_of(cl, rep)->tp);
    rep->busy_window_s += active;
    cl->steps++;
    return fs_evq_push(cl->q, now + dt, PRIO_STEP_DONE, EV_STEP_DONE, rep) ? 0 : -ENOMEM;
}

/* --- finishing --- */

static void record(cluster *cl, const sim_req *r, fs_ns now)
{
    const fs_engine_req *er = &r->er;
    fs_req_record rec = {
        .id = er->id, .arrival = r->arrival,
        .first_scheduled = r->prefill_replica >= 0 ? r->pre.first_scheduled : er->first_scheduled,
        .first_token = er->first_token, .finish = now, .input_tokens = er->prompt_len,
        .output_tokens = er->num_output, .cached_tokens = er->num_cached,
        .preemptions = er->preemptions + r->pre.preemptions, .replica = r->replica,
        .prefill_replica = r->prefill_replica, .kv_transfer = r->kv_transfer,
    };
    if (r->prefill_replica >= 0)
        rec.cached_tokens = r->pre.num_cached;
    fs_metrics_request(cl->metrics, &rec);
    cl->completed++;
    if (cl->obs->on_request)
        cl->obs->on_request(cl->obs->ctx, &rec);
}

/* A request that can never be served: counted, and shown to observers. */
static void reject(cluster *cl, sim_req *r)
{
    fs_metrics_rejected(cl->metrics);
    if (cl->obs->on_request) {
        fs_req_record rec = {.id = r->er.id, .arrival = r->arrival,
                             .input_tokens = r->er.prompt_len, .replica = -1,
                             .prefill_replica = -1};
        cl->obs->on_request(cl->obs->ctx, &rec);
    }
    fs_routing_end(cl->routing, r->er.id, fs_evq_now(cl->q));
    req_put(cl, r);
}

/* --- P/D transfers --- */

/*
 * The path a transfer from p to d takes. Simplification: the in-rack and cross-rack
 * paths out of a replica are separate links, so a transfer to another rack does not
 * slow one inside the rack that leaves through the same NIC at the same time (on a real
 * NIC they share it; the spine's share is what oversubscription models).
 */
static link *link_between(cluster *cl, const replica *p, const replica *d)
{
    replica *src = (replica *)p;
    if (p->rack != d->rack)
        return &src->spine;
    bool same_node = p->node == d->node &&
                     strcmp(pool_of(cl, p)->accel.name, pool_of(cl, d)->accel.name) == 0;
    return same_node ? &src->intra : &src->scaleout;
}

/* (Re)schedules the link's next completion after its set of transfers changed. */
static int link_reschedule(cluster *cl, link *l)
{
    if (l->pending)
        fs_evq_cancel(cl->q, l->pending);
    l->pending = 0;
    fs_ns next = fs_kvlink_next(l->kv, fs_evq_now(cl->q));
    if (next == FS_NS_MAX)
        return 0;
    l->pending = fs_evq_push(cl->q, next, PRIO_LINK, EV_LINK, l);
    return l->pending ? 0 : -ENOMEM;
}

/* The prefill part finished: move its prompt's KV to the decode replica. */
static int start_transfer(cluster *cl, sim_req *r)
{
    replica *p = &cl->reps[r->prefill_replica], *d = &cl->reps[r->replica];
    link *l = link_between(cl, p, d);
    double bytes = (double)r->er.prompt_len *
                   fm_llm_kv_bytes_per_token(&cl->sc->llm, pool_of(cl, p)->tp);
    r->transfer_start = fs_evq_now(cl->q);
    if (fs_kvlink_start(l->kv, r->transfer_start, bytes, r) < 0)
        return -ENOMEM;
    return link_reschedule(cl, l);
}

static int on_link(cluster *cl, link *l)
{
    fs_ns now = fs_evq_now(cl->q), lat = l->latency + cl->sc->router.kv_transfer_overhead_ns;
    sim_req *r;
    l->pending = 0;
    while ((r = fs_kvlink_take_done(l->kv, now)))
        if (!fs_evq_push(cl->q, now + lat, PRIO_KV_ARRIVED, EV_KV_ARRIVED, r))
            return -ENOMEM;
    return link_reschedule(cl, l);
}

/* The KV arrived: the request joins its decode replica with the prompt computed. */
static int on_kv_arrived(cluster *cl, sim_req *r)
{
    replica *d = &cl->reps[r->replica];
    fs_ns now = fs_evq_now(cl->q);
    r->kv_transfer = now - r->transfer_start;
    r->er.external_tokens = r->er.prompt_len - 1;
    int rc = fs_engine_add(d->engine, &r->er, now);
    if (rc == -EINVAL) {
        cl->reps[r->replica].in_flight--;
        reject(cl, r);
        return 0;
    }
    return rc < 0 ? rc : kick(cl, d);
}

/* --- engine callbacks (ctx = the replica) --- */

/*
 * Tokens of one decode step mostly share one gap (the step's duration), so gaps are
 * counted in runs of equal values and handed to the metrics once per run. The token a
 * prefill replica samples is dropped, as llm-d's sidecar drops it.
 */
static void on_first_token(void *ctx, fs_engine_req *er, fs_ns now)
{
    cluster *cl = ((replica *)ctx)->cl;
    sim_req *r = er->user;
    if (er == &r->er)
        fs_routing_first_token(cl->routing, er->id, now);
}

/* Inter-token gaps, merged into runs across replicas in event order for the metrics. */
static void on_token_gaps(void *ctx, fs_ns gap, uint64_t count)
{
    cluster *cl = ((replica *)ctx)->cl;
    if (gap != cl->gap_run) {
        fs_metrics_token_gaps(cl->metrics, cl->gap_run, cl->gap_count);
        cl->gap_run = gap;
        cl->gap_count = 0;
    }
    cl->gap_count += count;
}

static void on_finish(void *ctx, fs_engine_req *er, fs_ns now)
{
    replica *rep = ctx;
    cluster *cl = rep->cl;
    sim_req *r = er->user;
    if (er == &r->pre) {                 /* prefill done: transfer, then decode */
        if (start_transfer(cl, r) < 0)
            cl->failed = -ENOMEM;
        return;
    }
    record(cl, r, now);
    fs_routing_end(cl->routing, er->id, now);
    rep->in_flight--;
    if (now > cl->last_finish)
        cl->last_finish = now;
    req_put(cl, r);
}

static void on_block_stored(void *ctx, uint64_t hash)
{
    replica *rep = ctx;
    fs_routing_kv_stored(rep->cl->routing, rep->index, hash);
}

static void on_block_removed(void *ctx, uint64_t hash)
{
    replica *rep = ctx;
    fs_routing_kv_removed(rep->cl->routing, rep->index, hash);
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
        return oom(err);
    }
    fs_ns at = in.arrival_ns < fs_evq_now(cl->q) ? fs_evq_now(cl->q) : in.arrival_ns;
    if (!fs_evq_push(cl->q, at, PRIO_ARRIVAL, EV_ARRIVAL, r))
        return oom(err);
    return 1;
}

/* Sends the prefill part of a disaggregated request to its prefill replica. */
static int dispatch_prefill(cluster *cl, sim_req *r)
{
    r->pre = r->er;
    r->pre.max_output = 1;
    r->pre.output_content = 0;
    replica *p = &cl->reps[r->prefill_replica];
    int rc = fs_engine_add(p->engine, &r->pre, fs_evq_now(cl->q));
    return rc < 0 ? rc : kick(cl, p);
}

static int dispatch(cluster *cl, sim_req *r, const ft_request *in)
{
    fs_route route;
    int rc = fs_routing_pick(cl->routing, r->er.id, in, fs_evq_now(cl->q), &route);
    if (rc == -ENOENT) {
        reject(cl, r);
        return 0;
    }
    if (rc < 0)
        return rc;
    r->replica = route.decode;
    r->prefill_replica = route.prefill;
    if (r->prefill_replica >= 0 && r->er.prompt_len < 2)
        r->prefill_replica = -1;         /* nothing to transfer */
    replica *d = &cl->reps[r->replica];
    rc = r->prefill_replica >= 0 ? dispatch_prefill(cl, r)
                                 : fs_engine_add(d->engine, &r->er, fs_evq_now(cl->q));
    if (rc == -EINVAL) {
        reject(cl, r);
        return 0;
    }
    if (rc < 0)
        return rc;
    d->in_flight++;
    return r->prefill_replica >= 0 ? 0 : kick(cl, d);
}

static int on_arrival(cluster *cl, sim_req *r, char **err)
{
    ft_request in = {.arrival_ns = r->arrival, .input_tokens = r->er.prompt_len,
                     .output_tokens = r->er.max_output, .segs = r->segs,
                     .nsegs = r->er.nsegs, .priority = r->er.priority,
                     .cls = r->cls, .session = r->session};
    int rc = dispatch(cl, r, &in);
    if (rc < 0)
        return oom(err);
    rc = pull_next(cl, err);
    return rc < 0 ? rc : 0;
}

/* --- observation --- */

static void sample_replica(cluster *cl, replica *rep, fs_ns now)
{
    fs_engine_stats st;
    fs_engine_get_stats(rep->engine, &st);
    double period = (double)cl->sample_period / 1e9, util = rep->busy_window_s / period;
    const fs_pool *p = pool_of(cl, rep);
    fs_replica_sample s = {
        .t = now, .replica = rep->index, .waiting = st.waiting, .running = st.running,
        .kv_usage = st.kv_usage,
        .input_tps = (double)(st.prompt_tokens_computed - rep->prompt_prev) / period,
        .output_tps = (double)(st.output_tokens - rep->output_prev) / period,
        .utilisation = util > 1 ? 1 : util,
    };
    s.power_w = p->tp * (p->accel.idle_w + s.utilisation * (p->accel.tdp_w - p->accel.idle_w));
    rep->prompt_prev = st.prompt_tokens_computed;
    rep->output_prev = st.output_tokens;
    rep->busy_window_s = 0;
    cl->obs->on_sample(cl->obs->ctx, &s);
}

/* A sample tick or a router refresh; `again` schedules the next one. */
static int on_periodic(cluster *cl, int kind, bool again)
{
    fs_ns now = fs_evq_now(cl->q), period;
    if (kind == EV_TICK) {
        for (int i = 0; i < cl->nreps; i++)
            sample_replica(cl, &cl->reps[i], now);
        period = cl->sample_period;
    } else {
        fs_routing_refresh(cl->routing, now);
        period = cl->sc->router.refresh_ns;
    }
    if (!again)
        return 0;
    return fs_evq_push(cl->q, now + period, kind == EV_TICK ? PRIO_TICK : PRIO_REFRESH, kind,
                       NULL) ? 0 : -ENOMEM;
}

static void progress(cluster *cl)
{
    uint64_t in_flight = 0;
    for (int i = 0; i < cl->nreps; i++)
        in_flight += (uint64_t)cl->reps[i].in_flight;
    cl->obs->on_progress(cl->obs->ctx, fs_evq_now(cl->q), cl->completed, in_flight);
}

/* --- the loop --- */

/* Starts the periodic events; returns how many are pending at any time. */
static size_t start_periodic(cluster *cl)
{
    size_t n = 0;
    if (cl->obs->on_sample && fs_evq_push(cl->q, cl->sample_period, PRIO_TICK, EV_TICK, NULL))
        n++;
    if (!fs_routing_trivial(cl->routing)) {
        fs_routing_refresh(cl->routing, 0);
        if (fs_evq_push(cl->q, cl->sc->router.refresh_ns, PRIO_REFRESH, EV_REFRESH, NULL))
            n++;
    }
    return n;
}

static int handle(cluster *cl, const fs_event *ev, char **err)
{
    int rc;
    switch (ev->kind) {
    case EV_ARRIVAL:
        return on_arrival(cl, ev->data, err);
    case EV_STEP_DONE:
        fs_engine_complete(((replica *)ev->data)->engine, ev->time);
        rc = kick(cl, ev->data);
        break;
    case EV_LINK:
        rc = on_link(cl, ev->data);
        break;
    case EV_KV_ARRIVED:
        rc = on_kv_arrived(cl, ev->data);
        break;
    default:
        assert(0 && "periodic events are handled by the loop");
        rc = 0;
    }
    return rc < 0 || cl->failed < 0 ? oom(err) : 0;
}

static int loop(cluster *cl, uint64_t *events, char **err)
{
    int rc = pull_next(cl, err);
    size_t periodic = rc >= 0 ? start_periodic(cl) : 0;
    fs_event ev;
    while (rc >= 0 && fs_evq_size(cl->q) > 0) {
        fs_evq_pop(cl->q, &ev);
        if (++*events % PROGRESS_EVERY == 0 && cl->obs->on_progress)
            progress(cl);
        if (ev.kind == EV_TICK || ev.kind == EV_REFRESH) {
            /* Periodic events come back only while other work is pending. */
            bool again = fs_evq_size(cl->q) > periodic - 1;
            periodic -= !again;
            if (on_periodic(cl, ev.kind, again) < 0)
                rc = oom(err);
            continue;
        }
        rc = handle(cl, &ev, err);
    }
    return rc < 0 ? rc : 0;
}

/* --- set-up and tear-down --- */

static int size_pool_kv(const fs_scenario *sc, const fs_pool *p, fm_kv_sizing *out, char **err)
{
    const fs_engine_config *e = &p->engine;
    int rc = fm_kv_size(&p->accel, &sc->llm, p->tp, p->gpu_memory_utilization, e->block_size,
                        e->max_num_batched_tokens, e->max_num_seqs, out, err);
    if (rc == 0 && p->num_gpu_blocks_override > 0) {
        out->num_blocks = p->num_gpu_blocks_override;
        out->num_tokens = out->num_blocks * e->block_size;
    }
    return rc;
}

int fs_cluster_size_kv(const fs_scenario *sc, fm_kv_sizing *out, char **err)
{
    return size_pool_kv(sc, &sc->pools[0], out, err);
}

int fs_cluster_size_pool_kv(const fs_scenario *sc, int pool, fm_kv_sizing *out, char **err)
{
    return size_pool_kv(sc, &sc->pools[pool], out, err);
}

/*
 * The data sheet's links, or fitted send/recv when the pool's fit file has them; the
 * spine is the NIC's path with its bandwidth divided by the oversubscription and the
 * cross-rack latency added.
 */
static int links_new(replica *rep, const fs_pool *p, const fs_topology *t)
{
    const fm_accel *a = &p->accel;
    double bw_in = a->intra_bw * a->eff_comm, bw_out = a->scaleout_bw * a->eff_comm;
    double lat_in = a->intra_lat, lat_out = a->scaleout_lat;
    if (p->latency_params[0]) {
        fm_fits_kv_link(p->latency_params, a->name, true, &bw_in, &lat_in, NULL);
        fm_fits_kv_link(p->latency_params, a->name, false, &bw_out, &lat_out, NULL);
    }
    rep->intra.kv = fs_kvlink_new(bw_in);
    rep->scaleout.kv = fs_kvlink_new(bw_out);
    rep->spine.kv = fs_kvlink_new(bw_out / t->oversubscription);
    rep->intra.latency = (fs_ns)llround(lat_in * 1e9);
    rep->scaleout.latency = (fs_ns)llround(lat_out * 1e9);
    rep->spine.latency = rep->scaleout.latency + t->cross_rack_latency_ns;
    return rep->intra.kv && rep->scaleout.kv && rep->spine.kv ? 0 : -ENOMEM;
}

static int replica_new(cluster *cl, replica *rep, int pool, fs_placement at, char **err)
{
    const fs_pool *p = &cl->sc->pools[pool];
    fs_engine_config ec = p->engine;
    ec.num_blocks = cl->kv[pool].num_blocks;
    fs_engine_observer obs = {.ctx = rep, .on_finish = on_finish, .on_first_token = on_first_token,
                               .on_token_gaps = on_token_gaps};
    if (fs_routing_wants_kv_events(cl->routing)) {
        obs.on_block_stored = on_block_stored;
        obs.on_block_removed = on_block_removed;
    }
    rep->pool = pool;
    rep->node = at.node;
    rep->rack = at.rack;
    rep->cl = cl;
    int rc = fs_engine_new(&ec, &obs, &rep->engine, err);
    if (rc == 0)
        rc = fm_latency_new_with(p->latency_model, &p->accel, &cl->sc->llm, p->tp,
                                 p->latency_params, &rep->latency, err);
    if (rc == 0 && links_new(rep, p, &cl->sc->topology) < 0)
        rc = oom(err);
    cl->targets[rep->index] = (fs_route_target){pool, rep->engine};
    return rc;
}

int fs_cluster_place(const fs_scenario *sc, fs_placement *out)
{
    int k = 0, node = 0, used = 0, per_rack = sc->topology.nodes_per_rack;
    for (int pi = 0; pi < sc->npools; pi++) {
        const fs_pool *p = &sc->pools[pi];
        int per_node = p->accel.accels_per_node > 0 ? p->accel.accels_per_node : 1;
        if (pi > 0 && used > 0 && strcmp(p->accel.name, sc->pools[pi - 1].accel.name) != 0) {
            node++;
            used = 0;
        }
        for (int r = 0; r < p->replicas; r++, k++) {
            if (used + p->tp > per_node && used > 0) {
                node++;
                used = 0;
            }
            out[k] = (fs_placement){node, per_rack > 0 ? node / per_rack : 0};
            used += p->tp;
        }
    }
    return k > 0 ? node + 1 : 0;
}

static int replicas_new(cluster *cl, char **err)
{
    const fs_scenario *sc = cl->sc;
    cl->nreps = 0;
    for (int i = 0; i < sc->npools; i++)
        cl->nreps += sc->pools[i].replicas;
    cl->reps = calloc((size_t)cl->nreps, sizeof *cl->reps);
    cl->targets = calloc((size_t)cl->nreps, sizeof *cl->targets);
    fs_placement *at = calloc((size_t)cl->nreps, sizeof *at);
    if (!cl->reps || !cl->targets || !at) {
        free(at);
        return oom(err);
    }
    fs_cluster_place(sc, at);
    for (int pi = 0, k = 0; pi < sc->npools; pi++)
        for (int r = 0; r < sc->pools[pi].replicas; r++, k++)
            cl->targets[k].pool = pi;
    /* The router first: the engines report KV events only when it reads them. */
    int rc = fs_routing_new(sc, cl->targets, cl->nreps, sc->seed ^ ROUTER_SEED_SALT,
                            &cl->routing, err);
    for (int pi = 0, k = 0; rc == 0 && pi < sc->npools; pi++)
        for (int r = 0; rc == 0 && r < sc->pools[pi].replicas; r++, k++) {
            cl->reps[k].index = k;
            rc = replica_new(cl, &cl->reps[k], pi, at[k], err);
        }
    free(at);
    return rc;
}

static void replicas_free(cluster *cl)
{
    for (int i = 0; cl->reps && i < cl->nreps; i++) {
        replica *rep = &cl->reps[i];
        fs_engine_free(rep->engine);
        fm_latency_free(rep->latency);
        fs_kvlink_free(rep->intra.kv);
        fs_kvlink_free(rep->scaleout.kv);
        fs_kvlink_free(rep->spine.kv);
    }
    free(cl->reps);
    free(cl->targets);
}

static void cluster_free(cluster *cl)
{
    /* Events still queued after an error own their request records; engines and links
     * still hold others, which go with the request memory of the engines. */
    fs_event ev;
    while (cl->q && fs_evq_size(cl->q) > 0) {
        fs_evq_pop(cl->q, &ev);
        if (ev.kind == EV_ARRIVAL || ev.kind == EV_KV_ARRIVED)
            req_put(cl, ev.data);
    }
    replicas_free(cl);
    fs_routing_free(cl->routing);
    req_pool_free(cl);
    fs_evq_free(cl->q);
    ft_source_free(cl->src);
    fs_metrics_free(cl->metrics);
    free(cl->kv);
}

/* Cost inputs of pool pi: its replicas' busy time, its accelerators and prices. */
static void pool_cost(const cluster *cl, int pi, fs_cost_inputs *c)
{
    const fs_pool *p = &cl->sc->pools[pi];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", p->name);
    c->accelerators = p->replicas * p->tp;
    c->price_per_hour = p->accel.price_per_hour;
    c->tdp_w = p->accel.tdp_w;
    c->idle_w = p->accel.idle_w;
    c->makespan_s = (double)cl->last_finish / 1e9;
    for (int i = 0; i < cl->nreps; i++) {
        const replica *rep = &cl->reps[i];
        if (rep->pool != pi)
            continue;
        c->busy_s += rep->busy_s;
        c->prefill_s += rep->prefill_s;
        c->decode_s += rep->decode_s;
    }
}

static void summarize(cluster *cl, fs_run_result *out)
{
    fs_cost_inputs pools[FS_MAX_POOLS], all;
    for (int i = 0; i < cl->sc->npools; i++)
        pool_cost(cl, i, &pools[i]);
    all = pools[0];
    if (cl->sc->npools > 1) {
        all.npools = cl->sc->npools;
        all.pools = pools;
    }
    fs_metrics_token_gaps(cl->metrics, cl->gap_run, cl->gap_count);
    cl->gap_count = 0;
    fs_metrics_summarize(cl->metrics, &all, &out->summary);
    out->steps = cl->steps;
}

static int setup(cluster *cl, fs_run_result *out, char **err)
{
    const fs_scenario *sc = cl->sc;
    cl->kv = calloc((size_t)sc->npools, sizeof *cl->kv);
    if (!cl->kv)
        return oom(err);
    for (int i = 0; i < sc->npools; i++) {
        int rc = size_pool_kv(sc, &sc->pools[i], &cl->kv[i], err);
        if (rc)
            return rc;
    }
    out->kv = cl->kv[0];
    cl->q = fs_evq_new();
    cl->metrics = fs_metrics_new(&sc->slo);
    if (!cl->q || !cl->metrics)
        return oom(err);
    int rc = replicas_new(cl, err);
    if (rc == 0)
        rc = fs_scenario_open_workload(sc, &cl->src, err);
    return rc;
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
    int rc = setup(&cl, out, err);
    if (rc == 0)
        rc = loop(&cl, &out->events, err);
    if (rc == 0)
        summarize(&cl, out);
    cluster_free(&cl);
    return rc;
}
