/*
 * metrics.c: streaming request metrics, SLO accounting, cost and energy (metrics.h).
 *
 * Workload assumed: one call per finished request and one per output token of a trace
 * that can hold tens of millions of requests, so every recording call is O(1) with no
 * allocation and memory does not grow with the trace: each latency is a "stream" of
 * GSL running statistics (count, mean, max, and the median by P^2) plus two more P^2
 * estimators (p90, p99) and, where an SLO is set on it, one at the SLO's percentile.
 * Rejected alternatives: keeping every sample and sorting at the end (exact, but 27 M
 * requests x 5 metrics plus billions of token gaps do not fit the memory budget), and
 * fixed-bucket histograms (constant memory too, but their error depends on bucket
 * layout chosen before the latency range is known; P^2 adapts to the data).
 *
 * P^2 estimators are separate per percentile, so on awkward data p90 could come out a
 * hair above p99; the summary clamps p50 <= p90 <= p99 <= max so the table never reads
 * as impossible.
 */
#include "metrics.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_histogram.h>
#include <gsl/gsl_rstat.h>

#define DEFAULT_SLO_PERCENTILE 0.99

/* One latency metric: running statistics plus P^2 quantile estimators. */
typedef struct stream {
    gsl_rstat_workspace *rs;            /* n, mean, max, median */
    gsl_rstat_quantile_workspace *q90, *q99;
    gsl_rstat_quantile_workspace *qslo; /* at the SLO percentile; NULL when no SLO */
} stream;

/*
 * Inter-token gaps: billions of samples on long traces, most of them equal within one
 * decode step, so they are counted with weights in a histogram with log-spaced bins
 * (GAP_BINS_PER_DECADE per decade from 1 us to 10^4 s, so a quantile is within ~1.2 %)
 * plus an exact count, sum and maximum. Rejected: P^2 per sample as for the other
 * metrics, which cost ~60 ns per token and dominated the simulator's profile.
 */
#define GAP_MIN_S 1e-6
#define GAP_DECADES 10
#define GAP_BINS_PER_DECADE 200

typedef struct gap_hist {
    gsl_histogram *h;
    uint64_t n;
    double sum, max;
} gap_hist;

struct fs_metrics {
    fs_slo slo;                 /* percentile resolved */
    bool slo_set;
    stream ttft, tpot, e2e, queue;
    gap_hist itl;
    uint64_t completed, rejected;
    uint64_t input_tokens, output_tokens, cached_tokens, preemptions;
    uint64_t met, met_output_tokens;
    fs_ns first_arrival, last_finish;
};

/* --- streams --- */

/* Allocates a stream's estimators; slo_p > 0 adds one at that percentile. */
static bool stream_init(stream *s, double slo_p)
{
    s->rs = gsl_rstat_alloc();
    s->q90 = gsl_rstat_quantile_alloc(0.90);
    s->q99 = gsl_rstat_quantile_alloc(0.99);
    s->qslo = slo_p > 0 ? gsl_rstat_quantile_alloc(slo_p) : NULL;
    return s->rs && s->q90 && s->q99 && (slo_p <= 0 || s->qslo);
}

static void stream_free(stream *s)
{
    if (s->rs)
        gsl_rstat_free(s->rs);
    if (s->q90)
        gsl_rstat_quantile_free(s->q90);
    if (s->q99)
        gsl_rstat_quantile_free(s->q99);
    if (s->qslo)
        gsl_rstat_quantile_free(s->qslo);
}

static void stream_add(stream *s, double x)
{
    gsl_rstat_add(x, s->rs);
    gsl_rstat_quantile_add(x, s->q90);
    gsl_rstat_quantile_add(x, s->q99);
    if (s->qslo)
        gsl_rstat_quantile_add(x, s->qslo);
}

/* The estimate of w; 0 when it has no samples (GSL's answer is undefined there).
 * gsl_rstat_quantile_get (and gsl_rstat_median) only reorder the markers held while
 * n <= 5, which changes no later estimate, so summarizing is a read in all but type. */
static double quantile(gsl_rstat_quantile_workspace *w)
{
    return w && w->n > 0 ? gsl_rstat_quantile_get(w) : 0;
}

static void stream_stat(const stream *s, fs_stat *out)
{
    memset(out, 0, sizeof *out);
    out->n = gsl_rstat_n(s->rs);
    if (out->n == 0)
        return;
    out->mean = gsl_rstat_mean(s->rs);
    out->max = gsl_rstat_max(s->rs);
    out->p50 = fmin(gsl_rstat_median(s->rs), out->max);
    out->p90 = fmin(fmax(quantile(s->q90), out->p50), out->max);
    out->p99 = fmin(fmax(quantile(s->q99), out->p90), out->max);
}

/* --- inter-token gaps --- */

static bool gaps_init(gap_hist *g)
{
    size_t nbins = GAP_DECADES * GAP_BINS_PER_DECADE;
    g->h = gsl_histogram_alloc(nbins);
    if (!g->h)
        return false;
    double *range = g->h->range;
    for (size_t i = 0; i <= nbins; i++)
        range[i] = GAP_MIN_S * pow(10.0, (double)i / GAP_BINS_PER_DECADE);
    range[0] = 0; /* the first bin also takes everything below 1 us */
    gsl_histogram_reset(g->h); /* gsl_histogram_alloc leaves the bins uninitialised */
    return true;
}

static void gaps_add(gap_hist *g, double x, uint64_t count)
{
    size_t last = g->h->n - 1;
    double clamped = x < g->h->range[last + 1] ? x : g->h->range[last];
    gsl_histogram_accumulate(g->h, clamped, (double)count);
    g->n += count;
    g->sum += x * (double)count;
    if (x > g->max)
        g->max = x;
}

/* The q-quantile, interpolated linearly inside the bin where the weight reaches q. */
static double gaps_quantile(const gap_hist *g, double q)
{
    double want = q * (double)g->n, acc = 0;
    for (size_t i = 0; i < g->h->n; i++) {
        double w = gsl_histogram_get(g->h, i);
        if (w > 0 && acc + w >= want) {
            double lo, hi;
            gsl_histogram_get_range(g->h, i, &lo, &hi);
            return fmin(lo + (hi - lo) * (want - acc) / w, g->max);
        }
        acc += w;
    }
    return g->max;
}

static void gaps_stat(const gap_hist *g, fs_stat *out)
{
    memset(out, 0, sizeof *out);
    if ((out->n = g->n) == 0)
        return;
    out->mean = g->sum / (double)g->n;
    out->max = g->max;
    out->p50 = gaps_quantile(g, 0.5);
    out->p90 = fmax(gaps_quantile(g, 0.9), out->p50);
    out->p99 = fmax(gaps_quantile(g, 0.99), out->p90);
}

/* --- collector --- */

static bool slo_is_set(const fs_slo *slo)
{
    return slo && (slo->ttft_s > 0 || slo->tpot_s > 0 || slo->e2e_s > 0);
}

/* Allocates every stream; false on OOM (the caller frees what was made). */
static bool streams_init(fs_metrics *m)
{
    double p = m->slo.percentile;
    bool ok = stream_init(&m->ttft, m->slo.ttft_s > 0 ? p : 0);
    ok = stream_init(&m->tpot, m->slo.tpot_s > 0 ? p : 0) && ok;
    ok = stream_init(&m->e2e, m->slo.e2e_s > 0 ? p : 0) && ok;
    ok = gaps_init(&m->itl) && ok;
    return stream_init(&m->queue, 0) && ok;
}

fs_metrics *fs_metrics_new(const fs_slo *slo)
{
    fs_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->slo_set = slo_is_set(slo);
    if (m->slo_set) {
        assert(slo->percentile >= 0 && slo->percentile < 1);
        m->slo = *slo;
        if (m->slo.percentile == 0)
            m->slo.percentile = DEFAULT_SLO_PERCENTILE;
    }
    m->first_arrival = FS_NS_MAX;
    if (!streams_init(m)) {
        fs_metrics_free(m);
        return NULL;
    }
    return m;
}

void fs_metrics_free(fs_metrics *m)
{
    if (!m)
        return;
    stream_free(&m->ttft);
    stream_free(&m->tpot);
    if (m->itl.h)
        gsl_histogram_free(m->itl.h);
    stream_free(&m->e2e);
    stream_free(&m->queue);
    free(m);
}

static double ns_to_s(fs_ns ns)
{
    return (double)ns / (double)FS_NS_PER_S;
}

/* Whether one request met every set SLO; an unset SLO, or TPOT of a one-token
 * request, does not count against it. */
static bool request_meets_slo(const fs_metrics *m, double ttft, double tpot, double e2e)
{
    const fs_slo *s = &m->slo;
    return (s->ttft_s <= 0 || ttft <= s->ttft_s) &&
           (s->tpot_s <= 0 || tpot < 0 || tpot <= s->tpot_s) &&
           (s->e2e_s <= 0 || e2e <= s->e2e_s);
}

static void count_request(fs_metrics *m, const fs_req_record *r)
{
    m->completed++;
    m->input_tokens += r->input_tokens;
    m->output_tokens += r->output_tokens;
    m->cached_tokens += r->cached_tokens;
    m->preemptions += r->preemptions;
    if (r->arrival < m->first_arrival)
        m->first_arrival = r->arrival;
    if (m->completed == 1 || r->finish > m->last_finish)
        m->last_finish = r->finish;
}

void fs_metrics_request(fs_metrics *m, const fs_req_record *r)
{
    assert(r->arrival <= r->first_scheduled && r->first_scheduled <= r->first_token);
    assert(r->first_token <= r->finish && r->output_tokens >= 1);
    double ttft = ns_to_s(r->first_token - r->arrival);
    double e2e = ns_to_s(r->finish - r->arrival);
    double tpot = -1;   /* undefined for one output token */
    if (r->output_tokens >= 2) {
        tpot = ns_to_s(r->finish - r->first_token) / (r->output_tokens - 1);
        stream_add(&m->tpot, tpot);
    }
    stream_add(&m->ttft, ttft);
    stream_add(&m->e2e, e2e);
    stream_add(&m->queue, ns_to_s(r->first_scheduled - r->arrival));
    count_request(m, r);
    if (m->slo_set && request_meets_slo(m, ttft, tpot, e2e)) {
        m->met++;
        m->met_output_tokens += r->output_tokens;
    }
}

void fs_metrics_rejected(fs_metrics *m)
{
    m->rejected++;
}

void fs_metrics_token_gap(fs_metrics *m, fs_ns gap_ns)
{
    fs_metrics_token_gaps(m, gap_ns, 1);
}

void fs_metrics_token_gaps(fs_metrics *m, fs_ns gap_ns, uint64_t count)
{
    assert(gap_ns >= 0);
    if (count > 0)
        gaps_add(&m->itl, ns_to_s(gap_ns), count);
}

/* --- summary --- */

/* a / b, or 0 when b is 0 (the documented value of an undefined figure). */
static double ratio(double a, double b)
{
    return b != 0 ? a / b : 0;
}

static void summarize_counts(const fs_metrics *m, double makespan, fs_summary *out)
{
    out->completed = m->completed;
    out->rejected = m->rejected;
    out->input_tokens = m->input_tokens;
    out->output_tokens = m->output_tokens;
    out->cached_tokens = m->cached_tokens;
    out->preemptions = m->preemptions;
    out->makespan_s = makespan;
    out->throughput_rps = ratio((double)m->completed, makespan);
    out->input_tps = ratio((double)m->input_tokens, makespan);
    out->output_tps = ratio((double)m->output_tokens, makespan);
    out->cached_share = ratio((double)m->cached_tokens, (double)m->input_tokens);
    stream_stat(&m->ttft, &out->ttft_s);
    stream_stat(&m->tpot, &out->tpot_s);
    gaps_stat(&m->itl, &out->itl_s);
    stream_stat(&m->e2e, &out->e2e_s);
    stream_stat(&m->queue, &out->queue_s);
}

/* The SLO-percentile estimate of one stream, and whether it is within `target`. */
static bool percentile_ok(const stream *s, double target, double *at)
{
    *at = quantile(s->qslo);
    return target <= 0 || gsl_rstat_n(s->rs) == 0 || *at <= target;
}

static void summarize_slo(const fs_metrics *m, double makespan, fs_slo_result *out)
{
    memset(out, 0, sizeof *out);
    if (!m->slo_set)
        return;
    out->set = true;
    out->target = m->slo;
    out->met = m->met;
    out->attainment = ratio((double)m->met, (double)(m->completed + m->rejected));
    out->goodput_rps = ratio((double)m->met, makespan);
    out->goodput_output_tps = ratio((double)m->met_output_tokens, makespan);
    out->ttft_ok = percentile_ok(&m->ttft, m->slo.ttft_s, &out->ttft_at_pct_s);
    out->tpot_ok = percentile_ok(&m->tpot, m->slo.tpot_s, &out->tpot_at_pct_s);
    out->e2e_ok = percentile_ok(&m->e2e, m->slo.e2e_s, &out->e2e_at_pct_s);
    out->all_ok = out->ttft_ok && out->tpot_ok && out->e2e_ok;
}

static void summarize_cost(const fs_cost_inputs *c, const fs_summary *s, fs_cost *out)
{
    double busy = c->prefill_s + c->decode_s;   /* = busy_s by contract */
    double in_share = busy > 0 ? c->prefill_s / busy : 0.5;
    out->accelerators = c->accelerators;
    out->price_per_hour = c->price_per_hour;
    out->accelerator_hours = c->accelerators * s->makespan_s / 3600.0;
    out->fleet_usd_per_hour = c->accelerators * c->price_per_hour;
    out->total_usd = out->accelerator_hours * c->price_per_hour;
    out->usd_per_m_input = ratio(out->total_usd * in_share * 1e6, (double)s->input_tokens);
    out->usd_per_m_output =
        ratio(out->total_usd * (1 - in_share) * 1e6, (double)s->output_tokens);
    out->usd_per_m_tokens =
        ratio(out->total_usd * 1e6, (double)(s->input_tokens + s->output_tokens));
}

static void summarize_energy(const fs_cost_inputs *c, const fs_summary *s, fs_energy *out)
{
    double capacity = c->accelerators * s->makespan_s;
    double u = fmin(fmax(ratio(c->busy_s, capacity), 0), 1);
    out->utilisation = u;
    out->mean_power_w = c->accelerators * (c->idle_w + u * (c->tdp_w - c->idle_w));
    out->energy_j = out->mean_power_w * s->makespan_s;
    out->energy_kwh = out->energy_j / 3.6e6;
    out->j_per_output_token = ratio(out->energy_j, (double)s->output_tokens);
    out->j_per_token = ratio(out->energy_j, (double)(s->input_tokens + s->output_tokens));
}

/* Sums per-pool costs into the fleet's; the per-token figures add up too. */
static void add_cost(fs_cost *t, const fs_cost *c)
{
    t->accelerators += c->accelerators;
    t->accelerator_hours += c->accelerator_hours;
    t->fleet_usd_per_hour += c->fleet_usd_per_hour;
    t->total_usd += c->total_usd;
    t->usd_per_m_input += c->usd_per_m_input;
    t->usd_per_m_output += c->usd_per_m_output;
    t->usd_per_m_tokens += c->usd_per_m_tokens;
    t->price_per_hour = t->accelerators ? t->fleet_usd_per_hour / t->accelerators : 0;
}

static void add_energy(fs_energy *t, const fs_energy *e, double busy, double capacity)
{
    t->utilisation = fmin(fmax(ratio(busy, capacity), 0), 1);
    t->mean_power_w += e->mean_power_w;
    t->energy_j += e->energy_j;
    t->energy_kwh += e->energy_kwh;
    t->j_per_output_token += e->j_per_output_token;
    t->j_per_token += e->j_per_token;
}

static void summarize_pools(const fs_cost_inputs *c, fs_summary *out)
{
    double busy = 0, capacity = 0;
    out->npools = c->npools < FS_METRICS_MAX_POOLS ? c->npools : FS_METRICS_MAX_POOLS;
    for (int i = 0; i < out->npools; i++) {
        const fs_cost_inputs *p = &c->pools[i];
        fs_pool_cost *pc = &out->pools[i];
        snprintf(pc->name, sizeof pc->name, "%s", p->name);
        summarize_cost(p, out, &pc->cost);
        summarize_energy(p, out, &pc->energy);
        busy += p->busy_s;
        capacity += p->accelerators * out->makespan_s;
        add_cost(&out->cost, &pc->cost);
        add_energy(&out->energy, &pc->energy, busy, capacity);
    }
}

void fs_metrics_summarize(const fs_metrics *m, const fs_cost_inputs *cost, fs_summary *out)
{
    memset(out, 0, sizeof *out);
    double makespan = m->completed ? ns_to_s(m->last_finish - m->first_arrival) : 0;
    if (cost && cost->makespan_s > 0)
        makespan = cost->makespan_s;
    summarize_counts(m, makespan, out);
    summarize_slo(m, makespan, &out->slo);
    if (cost && cost->npools > 0) {
        summarize_pools(cost, out);
    } else if (cost) {
        assert(cost->accelerators >= 0);
        summarize_cost(cost, out, &out->cost);
        summarize_energy(cost, out, &out->energy);
    }
}

/* --- text --- */

/* A formatted number; a struct so that several can appear in one printf. */
typedef struct num {
    char s[48];
} num;

/* x with 4 significant digits and no exponent; values of 1000 and above print whole. */
static num n4(double x)
{
    num n;
    double ax = fabs(x);
    int decimals = 0;
    if (ax > 0 && ax < 1000) {
        decimals = 3 - (int)floor(log10(ax));
        decimals = decimals > 9 ? 9 : decimals;
    }
    if (!isfinite(x))
        snprintf(n.s, sizeof n.s, "-");
    else
        snprintf(n.s, sizeof n.s, "%.*f", decimals, x);
    return n;
}

/* A latency row in ms; "-" for every figure when there are no samples. */
static void print_stat(FILE *f, const char *name, const fs_stat *st)
{
    double v[] = { st->mean, st->p50, st->p90, st->p99, st->max };
    fprintf(f, "  %-10s %12" PRIu64, name, st->n);
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        fprintf(f, " %10s", st->n ? n4(v[i] * 1e3).s : "-");
    fputc('\n', f);
}

static void print_requests(FILE *f, const fs_summary *s)
{
    fprintf(f, "%-26s %" PRIu64 " completed, %" PRIu64 " rejected, %" PRIu64
            " preemptions\n", "requests", s->completed, s->rejected, s->preemptions);
    fprintf(f, "%-26s %" PRIu64 " input, %" PRIu64 " output, %s %% of input cached\n",
            "tokens", s->input_tokens, s->output_tokens, n4(s->cached_share * 100).s);
    fprintf(f, "%-26s %s\n", "makespan (s)", n4(s->makespan_s).s);
    fprintf(f, "%-26s %s req/s, %s input tok/s, %s output tok/s\n", "throughput",
            n4(s->throughput_rps).s, n4(s->input_tps).s, n4(s->output_tps).s);
}

static void print_latency(FILE *f, const fs_summary *s)
{
    fprintf(f, "%-12s %12s %10s %10s %10s %10s %10s\n", "latency (ms)", "n", "mean",
            "p50", "p90", "p99", "max");
    print_stat(f, "ttft", &s->ttft_s);
    print_stat(f, "tpot", &s->tpot_s);
    print_stat(f, "itl", &s->itl_s);
    print_stat(f, "e2e", &s->e2e_s);
    print_stat(f, "queueing", &s->queue_s);
}

/* One percentile-target line: "p99 ttft (ms)  180.2 <= 200.0  ok". */
static void print_target(FILE *f, const char *name, double pct, double target, double at,
                         bool ok)
{
    char label[40];
    snprintf(label, sizeof label, "p%.4g %s (ms)", pct * 100, name);
    if (target <= 0)
        fprintf(f, "  %-24s not set\n", label);
    else
        fprintf(f, "  %-24s %s <= %s  %s\n", label, n4(at * 1e3).s, n4(target * 1e3).s,
                ok ? "ok" : "MISSED");
}

static void print_slo(FILE *f, const fs_slo_result *r)
{
    if (!r->set) {
        fprintf(f, "%-26s none set\n", "slo");
        return;
    }
    fprintf(f, "%-26s %s %% (%" PRIu64 " requests met every SLO)\n", "slo attainment",
            n4(r->attainment * 100).s, r->met);
    fprintf(f, "%-26s %s req/s, %s output tok/s\n", "goodput", n4(r->goodput_rps).s,
            n4(r->goodput_output_tps).s);
    double p = r->target.percentile;
    print_target(f, "ttft", p, r->target.ttft_s, r->ttft_at_pct_s, r->ttft_ok);
    print_target(f, "tpot", p, r->target.tpot_s, r->tpot_at_pct_s, r->tpot_ok);
    print_target(f, "e2e", p, r->target.e2e_s, r->e2e_at_pct_s, r->e2e_ok);
    fprintf(f, "%-26s %s\n", "slo percentile targets", r->all_ok ? "met" : "MISSED");
}

static void print_cost(FILE *f, const fs_cost *c, const fs_energy *e)
{
    if (c->accelerators == 0) {
        fprintf(f, "%-26s not computed (no fleet given)\n", "cost and energy");
        return;
    }
    fprintf(f, "%-26s %d x $%s/h = $%s/h\n", "fleet", c->accelerators,
            n4(c->price_per_hour).s, n4(c->fleet_usd_per_hour).s);
    fprintf(f, "%-26s %s accelerator-hours, $%s total\n", "cost",
            n4(c->accelerator_hours).s, n4(c->total_usd).s);
    fprintf(f, "%-26s $%s input, $%s output, $%s blended\n", "cost per M tokens",
            n4(c->usd_per_m_input).s, n4(c->usd_per_m_output).s, n4(c->usd_per_m_tokens).s);
    fprintf(f, "%-26s %s %% utilisation, %s W mean, %s kWh\n", "energy",
            n4(e->utilisation * 100).s, n4(e->mean_power_w).s, n4(e->energy_kwh).s);
    fprintf(f, "%-26s %s J/output token, %s J/token\n", "energy per token",
            n4(e->j_per_output_token).s, n4(e->j_per_token).s);
}

static void print_pools(FILE *f, const fs_summary *s)
{
    if (s->npools == 0)
        return;
    fprintf(f, "%-12s %5s %10s %8s %10s %10s %10s\n", "pool", "accel", "$/h", "util %",
            "$ total", "$/M in", "$/M out");
    for (int i = 0; i < s->npools; i++) {
        const fs_pool_cost *p = &s->pools[i];
        fprintf(f, "  %-10s %5d %10s %8s %10s %10s %10s\n", p->name, p->cost.accelerators,
                n4(p->cost.fleet_usd_per_hour).s, n4(p->energy.utilisation * 100).s,
                n4(p->cost.total_usd).s, n4(p->cost.usd_per_m_input).s,
                n4(p->cost.usd_per_m_output).s);
    }
}

void fs_summary_print(FILE *f, const fs_summary *s)
{
    print_requests(f, s);
    print_latency(f, s);
    print_slo(f, &s->slo);
    print_cost(f, &s->cost, &s->energy);
    print_pools(f, s);
}

/* --- JSON --- */

/* Adds key = v to o (v consumed); clears *ok on failure, including v == NULL. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (json_object_set_new(o, key, v) != 0)
        *ok = false;
}

/* A number, or null when it is undefined (and, defensively, when not finite). */
static json_t *jnum(double v, bool defined)
{
    return defined && isfinite(v) ? json_real(v) : json_null();
}

static json_t *jcount(uint64_t v)
{
    return json_integer((json_int_t)v);
}

/* Returns o when every put succeeded, else releases it and returns NULL. */
static json_t *done(json_t *o, bool ok)
{
    if (ok)
        return o;
    json_decref(o);
    return NULL;
}

static json_t *stat_json(const fs_stat *st)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok = true, d = st->n > 0;
    put(o, "n", jcount(st->n), &ok);
    put(o, "mean", jnum(st->mean, d), &ok);
    put(o, "p50", jnum(st->p50, d), &ok);
    put(o, "p90", jnum(st->p90, d), &ok);
    put(o, "p99", jnum(st->p99, d), &ok);
    put(o, "max", jnum(st->max, d), &ok);
    return done(o, ok);
}

static void put_counts(json_t *o, const fs_summary *s, bool *ok)
{
    bool span = s->makespan_s > 0;
    put(o, "completed", jcount(s->completed), ok);
    put(o, "rejected", jcount(s->rejected), ok);
    put(o, "preemptions", jcount(s->preemptions), ok);
    put(o, "input_tokens", jcount(s->input_tokens), ok);
    put(o, "output_tokens", jcount(s->output_tokens), ok);
    put(o, "cached_tokens", jcount(s->cached_tokens), ok);
    put(o, "cached_token_share", jnum(s->cached_share, s->input_tokens > 0), ok);
    put(o, "makespan_s", json_real(s->makespan_s), ok);
    put(o, "throughput_rps", jnum(s->throughput_rps, span), ok);
    put(o, "input_tokens_per_s", jnum(s->input_tps, span), ok);
    put(o, "output_tokens_per_s", jnum(s->output_tps, span), ok);
}

static void put_latency(json_t *o, const fs_summary *s, bool *ok)
{
    put(o, "ttft_s", stat_json(&s->ttft_s), ok);
    put(o, "tpot_s", stat_json(&s->tpot_s), ok);
    put(o, "itl_s", stat_json(&s->itl_s), ok);
    put(o, "e2e_s", stat_json(&s->e2e_s), ok);
    put(o, "queue_s", stat_json(&s->queue_s), ok);
}

/* One SLO's target and its percentile estimate: {target_s, at_percentile_s, met}. */
static json_t *target_json(double target, double at, bool met)
{
    if (target <= 0)
        return json_null();
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok = true;
    put(o, "target_s", json_real(target), &ok);
    put(o, "at_percentile_s", json_real(at), &ok);
    put(o, "met", json_boolean(met), &ok);
    return done(o, ok);
}

static json_t *slo_json(const fs_slo_result *r, double makespan, uint64_t requests)
{
    if (!r->set)
        return json_null();
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok = true;
    put(o, "percentile", json_real(r->target.percentile), &ok);
    put(o, "met_requests", jcount(r->met), &ok);
    put(o, "attainment", jnum(r->attainment, requests > 0), &ok);
    put(o, "goodput_rps", jnum(r->goodput_rps, makespan > 0), &ok);
    put(o, "goodput_output_tokens_per_s", jnum(r->goodput_output_tps, makespan > 0), &ok);
    put(o, "ttft", target_json(r->target.ttft_s, r->ttft_at_pct_s, r->ttft_ok), &ok);
    put(o, "tpot", target_json(r->target.tpot_s, r->tpot_at_pct_s, r->tpot_ok), &ok);
    put(o, "e2e", target_json(r->target.e2e_s, r->e2e_at_pct_s, r->e2e_ok), &ok);
    put(o, "percentile_targets_met", json_boolean(r->all_ok), &ok);
    return done(o, ok);
}

static json_t *cost_json(const fs_cost *c, const fs_summary *s)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok = true;
    put(o, "accelerators", json_integer(c->accelerators), &ok);
    put(o, "usd_per_accelerator_hour", json_real(c->price_per_hour), &ok);
    put(o, "accelerator_hours", json_real(c->accelerator_hours), &ok);
    put(o, "fleet_usd_per_hour", json_real(c->fleet_usd_per_hour), &ok);
    put(o, "total_usd", json_real(c->total_usd), &ok);
    put(o, "usd_per_m_input_tokens", jnum(c->usd_per_m_input, s->input_tokens > 0), &ok);
    put(o, "usd_per_m_output_tokens", jnum(c->usd_per_m_output, s->output_tokens > 0), &ok);
    put(o, "usd_per_m_tokens",
        jnum(c->usd_per_m_tokens, s->input_tokens + s->output_tokens > 0), &ok);
    return done(o, ok);
}

static json_t *energy_json(const fs_energy *e, const fs_summary *s)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok = true;
    put(o, "utilisation", json_real(e->utilisation), &ok);
    put(o, "mean_power_w", json_real(e->mean_power_w), &ok);
    put(o, "energy_j", json_real(e->energy_j), &ok);
    put(o, "energy_kwh", json_real(e->energy_kwh), &ok);
    put(o, "j_per_output_token", jnum(e->j_per_output_token, s->output_tokens > 0), &ok);
    put(o, "j_per_token",
        jnum(e->j_per_token, s->input_tokens + s->output_tokens > 0), &ok);
    return done(o, ok);
}

static json_t *pools_json(const fs_summary *s)
{
    json_t *a = json_array();
    for (int i = 0; a && i < s->npools; i++) {
        json_t *o = json_pack("{s:s, s:o, s:o}", "name", s->pools[i].name, "cost",
                              cost_json(&s->pools[i].cost, s), "energy",
                              energy_json(&s->pools[i].energy, s));
        if (!o || json_array_append_new(a, o) < 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *fs_summary_to_json(const fs_summary *s)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    bool ok = true;
    put_counts(o, s, &ok);
    put_latency(o, s, &ok);
    put(o, "slo", slo_json(&s->slo, s->makespan_s, s->completed + s->rejected), &ok);
    bool fleet = s->cost.accelerators > 0;
    put(o, "cost", fleet ? cost_json(&s->cost, s) : json_null(), &ok);
    put(o, "energy", fleet ? energy_json(&s->energy, s) : json_null(), &ok);
    if (s->npools > 0)
        put(o, "pools", pools_json(s), &ok);
    return done(o, ok);
}
