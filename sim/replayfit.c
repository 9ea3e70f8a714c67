/*
 * replayfit.c: replaying measured requests through one engine and fitting the scaled
 * latency form to their TTFT and TPOT (replayfit.h says why Nelder-Mead).
 *
 * The replay is the engine's clock-free loop (engine.h) driven by hand: admit the
 * arrivals up to now, schedule, time the batch, complete; when idle, jump to the next
 * arrival. Arrivals during a step are admitted before the next schedule, as vLLM's
 * engine loop does, and completions at an arrival's time come first, as in the
 * cluster's event order, so a replay of one replica and a `fleetsim run` of the same
 * requests agree.
 */
#include "replayfit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>

#include "fu_yaml.h"

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

double fs_scaled_step_fn(void *ctx, const fm_seq_work *seqs, size_t n)
{
    const fs_scaled_step *s = ctx;
    fm_step_terms t;
    fm_scaled_terms(s->ctx, seqs, n, &t);
    return fm_scaled_eval(&s->k, &t, NULL);
}

int fs_server_engine_config(const fm_accel *a, const fm_llm *m, int tp,
                            const fs_server_opts *o, fs_engine_config *out, char **err)
{
    fs_engine_config c;
    fs_engine_config_defaults(&c);
    c.max_num_seqs = o->max_num_seqs ? o->max_num_seqs : c.max_num_seqs;
    c.max_num_batched_tokens = o->max_num_batched_tokens ? o->max_num_batched_tokens
                                                         : c.max_num_batched_tokens;
    c.block_size = o->block_size ? o->block_size : c.block_size;
    c.max_model_len = o->max_model_len ? o->max_model_len : m->max_model_len;
    c.enable_chunked_prefill = !o->no_chunked_prefill;
    c.enable_prefix_caching = false; /* benchmark prompts are distinct */
    if (o->num_gpu_blocks > 0)
        c.num_blocks = o->num_gpu_blocks;
    else {
        fm_kv_sizing kv;
        double util = o->gpu_memory_utilization > 0 ? o->gpu_memory_utilization : 0.9;
        int rc = fm_kv_size(a, m, tp, util, c.block_size, c.max_num_batched_tokens,
                            c.max_num_seqs, &kv, err);
        if (rc)
            return rc;
        c.num_blocks = kv.num_blocks;
    }
    *out = c;
    return 0;
}

/* --- the replay --- */

typedef struct replay {
    fs_engine_req *reqs;
    ft_segment *segs;
    fs_replay_result *out;
    fs_ns last;
} replay;

static void on_token(void *ctx, fs_engine_req *r, fs_ns now)
{
    replay *rp = ctx;
    size_t i = (size_t)(r - rp->reqs);
    if (r->num_output == 1)
        rp->out->ttft_s[i] = (now - r->arrival) / 1e9;
}

static void on_finish(void *ctx, fs_engine_req *r, fs_ns now)
{
    replay *rp = ctx;
    size_t i = (size_t)(r - rp->reqs);
    rp->out->e2e_s[i] = (now - r->arrival) / 1e9;
    if (now > rp->last)
        rp->last = now;
}

void fs_replay_result_free(fs_replay_result *res)
{
    if (!res)
        return;
    free(res->ttft_s);
    free(res->e2e_s);
    memset(res, 0, sizeof *res);
}

static int setup(replay *rp, const fs_timed_req *r, size_t n, fs_replay_result *out)
{
    memset(out, 0, sizeof *out);
    rp->reqs = calloc(n, sizeof *rp->reqs);
    rp->segs = calloc(n, sizeof *rp->segs);
    out->ttft_s = malloc(n * sizeof(double));
    out->e2e_s = malloc(n * sizeof(double));
    if (!rp->reqs || !rp->segs || !out->ttft_s || !out->e2e_s)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        rp->segs[i] = (ft_segment){.content = UINT64_C(0x5eed0000) + i,
                                   .len = r[i].input_tokens};
        rp->reqs[i] = (fs_engine_req){.id = i, .segs = &rp->segs[i], .nsegs = 1,
                                      .prompt_len = r[i].input_tokens,
                                      .max_output = r[i].output_tokens};
        out->ttft_s[i] = out->e2e_s[i] = NAN;
    }
    out->n = n;
    rp->out = out;
    return 0;
}

/* Admits the arrivals up to now; counts the ones the engine can never run. */
static int admit(fs_engine *e, replay *rp, const fs_timed_req *r, size_t n, size_t *next,
                 fs_ns now)
{
    while (*next < n && (fs_ns)llround(r[*next].arrival_s * 1e9) <= now) {
        size_t i = (*next)++;
        int rc = fs_engine_add(e, &rp->reqs[i], (fs_ns)llround(r[i].arrival_s * 1e9));
        if (rc == -ENOMEM)
            return rc;
        rp->out->rejected += rc != 0;
    }
    return 0;
}

static int run_loop(fs_engine *e, replay *rp, const fs_timed_req *r, size_t n, fs_step_fn fn,
                    void *ctx)
{
    fs_ns now = 0;
    size_t next = 0;
    for (;;) {
        int rc = admit(e, rp, r, n, &next, now);
        if (rc)
            return rc;
        if (fs_engine_schedule(e, now) == 0) {
            if (next == n)
                return 0;
            fs_ns t = (fs_ns)llround(r[next].arrival_s * 1e9);
            now = t > now ? t : now;
            continue;
        }
        size_t k;
        const fm_seq_work *w = fs_engine_batch(e, &k);
        fs_ns dt = (fs_ns)llround(fn(ctx, w, k) * 1e9);
        now += dt > 0 ? dt : 1;
        fs_engine_complete(e, now);
        rp->out->steps++;
    }
}

int fs_replay(const fs_timed_req *r, size_t n, const fs_engine_config *cfg, fs_step_fn fn,
              void *ctx, fs_replay_result *out, char **err)
{
    replay rp = {0};
    fs_engine *e = NULL;
    fs_engine_observer obs = {.ctx = &rp, .on_token = on_token, .on_finish = on_finish};
    int rc = setup(&rp, r, n, out);
    if (rc == 0)
        rc = fs_engine_new(cfg, &obs, &e, err);
    else
        fail(err, fu_asprintf("out of memory"), rc);
    if (rc == 0 && (rc = run_loop(e, &rp, r, n, fn, ctx)) != 0)
        fail(err, fu_asprintf("out of memory"), rc);
    fs_engine_free(e);
    free(rp.reqs);
    free(rp.segs);
    if (rc)
        fs_replay_result_free(out);
    else
        out->makespan_s = rp.last / 1e9;
    return rc;
}

/* --- comparing --- */

static double tpot(double ttft, double e2e, uint32_t out)
{
    return out >= 2 ? (e2e - ttft) / (out - 1) : NAN;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p-quantile (0..1) of the finite values (sorts a copy); NaN when none. */
static double quantile(const double *v, size_t n, double p)
{
    double *c = malloc((n ? n : 1) * sizeof *c);
    size_t k = 0;
    for (size_t i = 0; c && i < n; i++)
        if (isfinite(v[i]))
            c[k++] = v[i];
    double q = NAN;
    if (c && k) {
        qsort(c, k, sizeof *c, cmp_double);
        double pos = p * (double)(k - 1);
        size_t lo = (size_t)pos;
        q = lo + 1 < k ? c[lo] + (c[lo + 1] - c[lo]) * (pos - (double)lo) : c[lo];
    }
    free(c);
    return q;
}

/* Absolute % errors of pred vs meas split into fitted and held-out requests. */
static void split_quality(const double *pred, const double *meas, size_t n, fm_fit_quality *q)
{
    double *e = malloc((n ? n : 1) * sizeof *e);
    size_t nf = 0, nh = n;
    memset(q, 0, sizeof *q);
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(pred[i]) || !isfinite(meas[i]) || meas[i] <= 0)
            continue;
        double pct = 100 * (pred[i] / meas[i] - 1);
        if (fm_fit_held_out(i))
            e[--nh] = pct;
        else
            e[nf++] = pct;
    }
    q->n_fit = nf;
    q->n_held = n - nh;
    fm_pct_stats(e, nf, &q->fit_median_pct, &q->fit_mape_pct, NULL);
    fm_pct_stats(e + nh, n - nh, &q->held_median_pct, &q->held_mape_pct, &q->held_max_pct);
    free(e);
}

void fs_replay_compare(const fs_timed_req *r, size_t n, const fs_replay_result *p,
                       fs_replay_errors *out)
{
    size_t sz = (n ? n : 1) * sizeof(double);
    double *m_tt = calloc(1, sz), *m_tp = calloc(1, sz), *p_tp = calloc(1, sz), last = 0,
           tokens = 0;
    memset(out, 0, sizeof *out);
    if (!m_tt || !m_tp || !p_tp)
        n = 0; /* out of memory: report nothing rather than fail */
    for (size_t i = 0; i < n; i++) {
        m_tt[i] = r[i].ttft_s;
        m_tp[i] = tpot(r[i].ttft_s, r[i].e2e_s, r[i].output_tokens);
        p_tp[i] = tpot(p->ttft_s[i], p->e2e_s[i], r[i].output_tokens);
        last = fmax(last, r[i].arrival_s + r[i].e2e_s);
        tokens += isfinite(p->e2e_s[i]) ? r[i].output_tokens : 0;
    }
    split_quality(p->ttft_s, m_tt, n, &out->ttft);
    split_quality(p_tp, m_tp, n, &out->tpot);
    out->measured_tps = last > 0 ? tokens / last : 0;
    out->predicted_tps = p->makespan_s > 0 ? tokens / p->makespan_s : 0;
    out->measured_ttft_p50 = quantile(m_tt, n, 0.5);
    out->predicted_ttft_p50 = quantile(p->ttft_s, n, 0.5);
    out->measured_ttft_p90 = quantile(m_tt, n, 0.9);
    out->predicted_ttft_p90 = quantile(p->ttft_s, n, 0.9);
    out->measured_tpot_p50 = quantile(m_tp, n, 0.5);
    out->predicted_tpot_p50 = quantile(p_tp, n, 0.5);
    out->measured_tpot_p90 = quantile(m_tp, n, 0.9);
    out->predicted_tpot_p90 = quantile(p_tp, n, 0.9);
    free(m_tt);
    free(m_tp);
    free(p_tp);
}

/* --- calibrating --- */

#define NCOEF 10
#define MAX_EVALS 1500

typedef struct search {
    const fs_timed_req *r;
    size_t n;
    const fs_engine_config *cfg;
    fs_scaled_step step;
    double *coef[NCOEF];        /* the free coefficients inside step.k */
    size_t nfree;
    int evals, failed;
    double *pred, *meas;        /* scratch: TTFTs of the fitted requests, for ranking */
} search;

static void set_params(search *s, const gsl_vector *x)
{
    for (size_t j = 0; j < s->nfree; j++)
        *s->coef[j] = exp(gsl_vector_get(x, j));
}

static double sq_log(double pred, double meas)
{
    double d = log(pred / meas);
    return d * d;
}

/*
 * The cost of a replay: the mean squared log-ratio of predicted to measured TPOT per
 * request, plus that of TTFT compared rank by rank (the i-th smallest predicted
 * against the i-th smallest measured), over the requests not held out. TTFT is
 * compared as a distribution because a single request's TTFT is chaotic in the
 * coefficients: a step that ends just before or just after its arrival moves it by a
 * whole step, so per-request TTFT errors jump by tens of percent under a 1 % change
 * and trap the search; a request's TPOT averages over its decode steps and is smooth.
 */
static double objective(const gsl_vector *x, void *data)
{
    search *s = data;
    fs_replay_result p;
    set_params(s, x);
    s->evals++;
    if (fs_replay(s->r, s->n, s->cfg, fs_scaled_step_fn, &s->step, &p, NULL) != 0) {
        s->failed = 1;
        return GSL_POSINF;
    }
    double tp = 0, tt = 0;
    size_t ntp = 0, ntt = 0;
    for (size_t i = 0; i < s->n; i++) {
        const fs_timed_req *r = &s->r[i];
        if (fm_fit_held_out(i) || !isfinite(p.ttft_s[i]) || r->ttft_s <= 0)
            continue;
        s->pred[ntt] = fmax(p.ttft_s[i], 1e-9);
        s->meas[ntt++] = r->ttft_s;
        double mt = tpot(r->ttft_s, r->e2e_s, r->output_tokens);
        double pt = tpot(p.ttft_s[i], p.e2e_s[i], r->output_tokens);
        if (isfinite(mt) && mt > 0 && isfinite(pt)) {
            tp += sq_log(fmax(pt, 1e-9), mt);
            ntp++;
        }
    }
    qsort(s->pred, ntt, sizeof *s->pred, cmp_double);
    qsort(s->meas, ntt, sizeof *s->meas, cmp_double);
    for (size_t i = 0; i < ntt; i++)
        tt += sq_log(s->pred[i], s->meas[i]);
    fs_replay_result_free(&p);
    return ntp && ntt ? tp / (double)ntp + tt / (double)ntt : GSL_POSINF;
}

static size_t usable(const fs_timed_req *r, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !fm_fit_held_out(i) && r[i].ttft_s > 0 && r[i].output_tokens >= 2 &&
             r[i].e2e_s > r[i].ttft_s;
    return k;
}

/*
 * One Nelder-Mead run from x with initial steps `step` (log space); x gets the best
 * point, *f its cost. Returns 0 when the simplex converged, -EDOM when out of
 * evaluations, -ENOMEM.
 */
static int nm_run(search *s, gsl_vector *x, double step, double *f)
{
    gsl_multimin_function fn = {.f = objective, .n = s->nfree, .params = s};
    gsl_vector *st = gsl_vector_alloc(s->nfree);
    gsl_multimin_fminimizer *m = gsl_multimin_fminimizer_alloc(
        gsl_multimin_fminimizer_nmsimplex2, s->nfree);
    int status = GSL_CONTINUE;
    if (st && m) {
        gsl_vector_set_all(st, step);
        gsl_multimin_fminimizer_set(m, &fn, x, st);
        while (status == GSL_CONTINUE && s->evals < MAX_EVALS && !s->failed) {
            if (gsl_multimin_fminimizer_iterate(m))
                break;
            status = gsl_multimin_test_size(gsl_multimin_fminimizer_size(m), 2e-4);
        }
        gsl_vector_memcpy(x, gsl_multimin_fminimizer_x(m));
        *f = gsl_multimin_fminimizer_minimum(m);
    }
    gsl_vector_free(st);
    gsl_multimin_fminimizer_free(m);
    return !st || !m || s->failed ? -ENOMEM : status == GSL_SUCCESS ? 0 : -EDOM;
}

/*
 * Nelder-Mead with restarts: a simplex collapses early in the long valley where weight
 * reads and KV reads trade off (both grow with the decode batch) and on the small
 * jumps batching makes, so it restarts from the best point with a fresh simplex until
 * a restart gains less than 1 % of the cost. Rejected: Levenberg-Marquardt on the same
 * residuals with wide central differences, which stopped no closer on synthetic
 * benchmarks and cost more replays.
 */
static int minimise(search *s, gsl_vector *x)
{
    double f = GSL_POSINF, prev;
    int rc = 0;
    for (int round = 0; round < 8 && rc == 0; round++) {
        prev = f;
        rc = nm_run(s, x, 0.3, &f);
        if (round > 0 && f > prev * 0.99)
            break;
    }
    return rc;
}

int fs_replay_calibrate(const fs_timed_req *r, size_t n, const fs_engine_config *cfg,
                        const fm_scaled_ctx *ctx, unsigned mask, fm_scaled_coef *k,
                        fs_replay_errors *q, char **err)
{
    static const unsigned bits[NCOEF] = {
        FM_FIT_STEP, FM_FIT_SEQ, FM_FIT_LAYER, FM_FIT_LIN_FLOPS, FM_FIT_LIN_BYTES,
        FM_FIT_LIN_P, FM_FIT_ATTN_FLOPS, FM_FIT_ATTN_BYTES, FM_FIT_ATTN_P, FM_FIT_COMM};
    search s = {.r = r, .n = n, .cfg = cfg, .step = {.ctx = ctx, .k = *k}};
    double *fields[NCOEF] = {&s.step.k.step_s, &s.step.k.seq_s, &s.step.k.layer_s,
                             &s.step.k.lin_flops, &s.step.k.lin_bytes, &s.step.k.lin_p,
                             &s.step.k.attn_flops, &s.step.k.attn_bytes, &s.step.k.attn_p,
                             &s.step.k.comm};
    for (size_t j = 0; j < NCOEF; j++)
        if (mask & bits[j])
            s.coef[s.nfree++] = fields[j];
    if (s.nfree == 0 || usable(r, n) < 10)
        return fail(err, fu_asprintf("%s", s.nfree ? "fewer than 10 requests with a TTFT and "
                                                    "a TPOT to fit" : "no coefficient to fit"),
                    -EINVAL);
    gsl_vector *x = gsl_vector_alloc(s.nfree);
    s.pred = malloc(n * sizeof *s.pred);
    s.meas = malloc(n * sizeof *s.meas);
    if (!x || !s.pred || !s.meas) {
        gsl_vector_free(x);
        free(s.pred);
        free(s.meas);
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    }
    for (size_t j = 0; j < s.nfree; j++) /* log space: positive; a zero start becomes tiny */
        gsl_vector_set(x, j, log(*s.coef[j] > 1e-7 ? *s.coef[j] : 1e-7));
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    int rc = minimise(&s, x);
    gsl_set_error_handler(old);
    set_params(&s, x);
    gsl_vector_free(x);
    free(s.pred);
    free(s.meas);
    if (rc == -ENOMEM)
        return fail(err, fu_asprintf("out of memory"), rc);
    *k = s.step.k;
    if (q) {
        fs_replay_result p;
        if (fs_replay(r, n, cfg, fs_scaled_step_fn, &s.step, &p, NULL) == 0) {
            fs_replay_compare(r, n, &p, q);
            fs_replay_result_free(&p);
        }
    }
    if (rc == -EDOM)
        return fail(err, fu_asprintf("the search did not converge in %d replays", MAX_EVALS),
                    rc);
    return 0;
}
