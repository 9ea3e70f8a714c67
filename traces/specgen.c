/*
 * specgen.c: the generator keys of a scenario's `workload:` section.
 *
 * Reads arrival processes, length and duration distributions (including empirical
 * ones from a trace's lengths or a ServeGen PMF), shared prefixes, sessions, agentic
 * loops, RAG documents and class mixtures into an ft_gen_config whose tables live in
 * the spec's store. Keys that a class can take may also be given at the top level,
 * where they are the defaults of every class of a `classes:` list. Every error names
 * file:line:column and what was expected. Read once per run: clarity over speed.
 */
#include "ft_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CLASS_KEYS "input", "output", "shared_prefix", "session", "agent", "rag"

/* --- distributions --- */

static const fu_yfield len_fields[] = {
    {"value", FU_Y_DOUBLE, offsetof(ft_dist, mean), 0, 1, 1e8, 0, "fixed length"},
    {"mean", FU_Y_DOUBLE, offsetof(ft_dist, mean), 0, 1, 1e8, 0, "mean length"},
    {"sd", FU_Y_DOUBLE, offsetof(ft_dist, sd), 0, 0, 1e8, 0, "standard deviation"},
    {"min", FU_Y_DOUBLE, offsetof(ft_dist, lo), 0, 1, 1e8, 0, "smallest length"},
    {"max", FU_Y_DOUBLE, offsetof(ft_dist, hi), 0, 1, 1e8, 0, "largest length"},
    {NULL},
};

static const fu_yfield time_fields[] = {
    {"value", FU_Y_DOUBLE, offsetof(ft_dist, mean), 0, 0, 1e8, 0, "fixed seconds"},
    {"mean", FU_Y_DOUBLE, offsetof(ft_dist, mean), 0, 0, 1e8, 0, "mean seconds"},
    {"sd", FU_Y_DOUBLE, offsetof(ft_dist, sd), 0, 0, 1e8, 0, "standard deviation, s"},
    {"min", FU_Y_DOUBLE, offsetof(ft_dist, lo), 0, 0, 1e8, 0, "shortest, s"},
    {"max", FU_Y_DOUBLE, offsetof(ft_dist, hi), 0, 0, 1e8, 0, "longest, s"},
    {NULL},
};

static const char *const dist_names[] = { "fixed", "uniform", "normal", "lognormal",
                                          "empirical", "servegen" };

static int seq_doubles(ft_spec *s, fu_ynode seq, const char *what, double **out, size_t *n,
                       char **err)
{
    size_t len = fu_ynode_len(seq);
    if (!fu_ynode_is_seq(seq) || len == 0)
        return fti_yfail(err, fu_ynode_errf(seq, "expected a non-empty list of numbers for %s",
                                            what));
    double *v = fti_spec_alloc(s, len * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++) {
        int rc = fu_ynode_double(fu_yseq_item(seq, i), 0, 1e12, &v[i], err);
        if (rc)
            return rc;
    }
    *out = v;
    *n = len;
    return 0;
}

/* {dist: empirical, values: [...], weights: [...]} */
static int empirical_inline(ft_spec *s, fu_ynode n, ft_dist *d, char **err)
{
    fu_ynode vals = fu_ymap_get(n, "values"), ws = fu_ymap_get(n, "weights");
    double *v, *w;
    size_t nv, nw;
    int rc = seq_doubles(s, vals, "values", &v, &nv, err);
    if (rc == 0 && fu_ynode_ok(ws))
        rc = seq_doubles(s, ws, "weights", &w, &nw, err);
    if (rc)
        return rc;
    if (!fu_ynode_ok(ws)) {
        if (!(w = fti_spec_alloc(s, nv * sizeof *w)))
            return -ENOMEM;
        for (size_t i = 0; i < nv; i++)
            w[i] = 1;
        nw = nv;
    }
    if (nw != nv)
        return fti_yfail(err, fu_ynode_errf(ws, "expected as many weights as values (%zu), "
                                                "got %zu", nv, nw));
    d->values = v;
    d->weights = w;
    d->nvalues = nv;
    return 0;
}

/* Counts of each length of a trace's column -> values and weights (distinct lengths). */
static int histogram_to_dist(ft_spec *s, const uint64_t *cnt, size_t cap, ft_dist *d)
{
    size_t k = 0;
    for (size_t i = 0; i < cap; i++)
        k += cnt[i] > 0;
    double *v = fti_spec_alloc(s, (k ? k : 1) * sizeof *v);
    double *w = v ? fti_spec_alloc(s, (k ? k : 1) * sizeof *w) : NULL;
    if (!w)
        return -ENOMEM;
    k = 0;
    for (size_t i = 0; i < cap; i++)
        if (cnt[i]) {
            v[k] = (double)i;
            w[k++] = (double)cnt[i];
        }
    d->values = v;
    d->weights = w;
    d->nvalues = k;
    return 0;
}

static int count_lengths(ft_source *src, bool input, uint64_t **cnt, size_t *cap, char **err)
{
    ft_request r;
    int rc;
    while ((rc = ft_source_next(src, &r, err)) == 1) {
        uint32_t v = input ? r.input_tokens : r.output_tokens;
        if (v >= (1u << 24))
            v = (1u << 24) - 1;
        if (v >= *cap) {
            size_t c = *cap ? *cap : 4096;
            while (c <= v)
                c *= 2;
            uint64_t *p = realloc(*cnt, c * sizeof *p);
            if (!p)
                return -ENOMEM;
            memset(p + *cap, 0, (c - *cap) * sizeof *p);
            *cnt = p;
            *cap = c;
        }
        (*cnt)[v]++;
    }
    return rc;
}

/* {dist: empirical, trace: PATH, format: F, field: input|output, requests: N} */
static int empirical_trace(ft_spec *s, fu_ynode n, const char *what, const char *base_dir,
                           ft_dist *d, char **err)
{
    ft_trace_opts o = { .format = FT_FMT_AUTO };
    fu_ynode tr = fu_ymap_get(n, "trace"), fmt = fu_ymap_get(n, "format"),
             field = fu_ymap_get(n, "field"), req = fu_ymap_get(n, "requests");
    const char *col = fu_ynode_ok(field) ? fu_ynode_str(field) : what;
    int64_t max = 0;
    int rc = fti_spec_path(tr, base_dir, "trace", o.path, sizeof o.path, err);
    if (rc == 0 && fu_ynode_ok(fmt) && ft_format_parse(fu_ynode_str(fmt) ? fu_ynode_str(fmt)
                                                                          : "", &o.format))
        rc = fti_yfail(err, fu_ynode_errf(fmt, "unknown trace format (known: auto, azure, "
                                               "burstgpt, mooncake, csv)"));
    if (rc == 0 && (!col || (strcmp(col, "input") && strcmp(col, "output"))))
        rc = fti_yfail(err, fu_ynode_errf(fu_ynode_ok(field) ? field : n,
                                          "expected field: input or output (which lengths "
                                          "of the trace to draw from)"));
    if (rc == 0 && fu_ynode_ok(req) && (rc = fu_ynode_int64(req, 1, (int64_t)1e12, &max, err)) == 0)
        o.max_requests = (uint64_t)max;
    if (rc)
        return rc;
    ft_source *src = NULL;
    uint64_t *cnt = NULL;
    size_t cap = 0;
    char *e = NULL;
    if ((rc = ft_trace_open(&o, &src, &e)) == 0)
        rc = count_lengths(src, strcmp(col, "input") == 0, &cnt, &cap, &e);
    ft_source_free(src);
    if (rc == 0)
        rc = histogram_to_dist(s, cnt, cap, d);
    free(cnt);
    if (rc && rc != -ENOMEM)
        rc = fti_yfail(err, fu_ynode_errf(tr, "cannot read the lengths of this trace: %s",
                                          e ? e : "no rows"));
    free(e);
    return rc;
}

/* {dist: servegen, path: X-dataset.json, field: input_tokens, window: KEY} */
static int servegen_pmf(ft_spec *s, fu_ynode n, const char *what, const char *base_dir,
                        ft_dist *d, char **err)
{
    char path[4096], dflt[32];
    fu_ynode p = fu_ymap_get(n, "path"), field = fu_ymap_get(n, "field"),
             win = fu_ymap_get(n, "window");
    snprintf(dflt, sizeof dflt, "%s_tokens", what);
    const char *f = fu_ynode_ok(field) ? fu_ynode_str(field) : dflt;
    const char *w = fu_ynode_ok(win) ? fu_ynode_str(win) : NULL;
    int rc = fti_spec_path(p, base_dir, "ServeGen dataset", path, sizeof path, err);
    if (rc)
        return rc;
    if (!f || (fu_ynode_ok(win) && !w))
        return fti_yfail(err, fu_ynode_errf(n, "expected field: and window: to be text"));
    double *v, *wt;
    size_t k;
    char *e = NULL;
    rc = ft_servegen_pmf(path, f, w && strcmp(w, "all") ? w : NULL, &v, &wt, &k, &e);
    if (rc == 0 && (fti_spec_keep(s, v) || fti_spec_keep(s, wt)))
        rc = -ENOMEM;
    if (rc && rc != -ENOMEM)
        rc = fti_yfail(err, fu_ynode_errf(p, "%s", e ? e : "bad ServeGen dataset"));
    free(e);
    if (rc == 0)
        *d = (ft_dist){ .kind = FT_DIST_EMPIRICAL, .values = v, .weights = wt, .nvalues = k };
    return rc;
}

static int dist_kind(fu_ynode n, const char *what, size_t *kind, char **err)
{
    fu_ynode k = fu_ymap_get(n, "dist");
    const char *name = fu_ynode_str(k);
    for (*kind = 0; name && *kind < 6; ++*kind)
        if (strcmp(name, dist_names[*kind]) == 0)
            return 0;
    return fti_yfail(err, fu_ynode_errf(fu_ynode_ok(k) ? k : n,
                                        "expected dist: fixed, uniform, normal or lognormal "
                                        "in %s (or empirical, servegen)", what));
}

/*
 * A distribution: N (fixed; for durations also "2s") or {dist: KIND, ...}. `what`
 * names it in messages and picks the default column of empirical sources.
 */
static int load_dist(ft_spec *s, fu_ynode n, const char *what, const char *base_dir,
                     bool real, ft_dist *d, char **err)
{
    static const char *const skip[] = { "dist", "values", "weights", "trace", "format",
                                        "field", "requests", "path", "window", NULL };
    memset(d, 0, sizeof *d);
    if (fu_ynode_is_scalar(n)) {
        int64_t ns;
        int rc = real ? fu_ynode_duration_ns(n, 0, (int64_t)1e17, &ns, err)
                      : fu_ynode_double(n, 1, 1e8, &d->mean, err);
        if (real && rc == 0)
            d->mean = ns / 1e9;
        return rc;
    }
    size_t kind;
    int rc = dist_kind(n, what, &kind, err);
    if (rc == 0)
        rc = fu_yaml_apply(n, what, real ? time_fields : len_fields, skip, d, err);
    if (rc)
        return rc;
    if (kind == 5)
        rc = servegen_pmf(s, n, what, base_dir, d, err);
    else if (kind == 4 && fu_ynode_ok(fu_ymap_get(n, "trace")))
        rc = empirical_trace(s, n, what, base_dir, d, err);
    else if (kind == 4)
        rc = empirical_inline(s, n, d, err);
    else
        d->kind = (ft_dist_kind)kind;
    if (rc == 0 && kind >= 4)
        d->kind = FT_DIST_EMPIRICAL;
    return rc;
}

/* --- arrival processes --- */

typedef struct arr_yaml {
    double rate, cv, off_rate, amplitude, scale;
    int64_t on, off, period, peak, window;
} arr_yaml;

#define A(f) offsetof(arr_yaml, f)
#define A_RATE {"rate", FU_Y_DOUBLE, A(rate), 0, 1e-9, 1e9, 0, "requests/s"}
#define A_CV {"cv", FU_Y_DOUBLE, A(cv), 0, 1e-6, 1e6, 0, \
              "coefficient of variation of inter-arrival times"}

static const struct process {
    const char *name;
    ft_arrival_kind kind;
    fu_yfield fields[6];
} processes[] = {
    {"poisson", FT_ARR_POISSON, {A_RATE, {NULL}}},
    {"gamma", FT_ARR_GAMMA, {A_RATE, A_CV, {NULL}}},
    {"weibull", FT_ARR_WEIBULL, {A_RATE, A_CV, {NULL}}},
    {"onoff", FT_ARR_ONOFF, {
        {"rate", FU_Y_DOUBLE, A(rate), 0, 1e-9, 1e9, 0, "requests/s while on"},
        {"off_rate", FU_Y_DOUBLE, A(off_rate), 0, 0, 1e9, 0, "requests/s while off"},
        {"on", FU_Y_DURATION_NS, A(on), 0, 1e-6, 1e9, 0, "mean on period"},
        {"off", FU_Y_DURATION_NS, A(off), 0, 1e-6, 1e9, 0, "mean off period"}, {NULL}}},
    {"diurnal", FT_ARR_DIURNAL, {
        {"rate", FU_Y_DOUBLE, A(rate), 0, 1e-9, 1e9, 0, "mean requests/s"},
        {"amplitude", FU_Y_DOUBLE, A(amplitude), 0, 0, 1, 0, "peak/mean - 1"},
        {"period", FU_Y_DURATION_NS, A(period), 0, 1e-3, 1e9, 0, "one cycle"},
        {"peak", FU_Y_DURATION_NS, A(peak), 0, 0, 1e9, 0, "time of the peak"}, {NULL}}},
    {"servegen", FT_ARR_WINDOWS, {
        {"scale", FU_Y_DOUBLE, A(scale), 0, 1e-9, 1e9, 0, "multiplier of the rates"},
        {"window", FU_Y_DURATION_NS, A(window), 0, 1e-3, 1e9, 0, "length of a window"},
        {NULL}}},
};
#undef A
#undef A_RATE
#undef A_CV

static int servegen_windows(ft_spec *s, fu_ynode n, const char *base_dir, ft_arrival *a,
                            char **err)
{
    char path[4096];
    fu_ynode p = fu_ymap_get(n, "path");
    int rc = fti_spec_path(p, base_dir, "ServeGen trace", path, sizeof path, err);
    if (rc)
        return rc;
    ft_rate_window *w;
    size_t k;
    char *e = NULL;
    rc = ft_servegen_windows(path, &w, &k, &e);
    if (rc == 0 && fti_spec_keep(s, w))
        rc = -ENOMEM;
    if (rc && rc != -ENOMEM)
        rc = fti_yfail(err, fu_ynode_errf(p, "%s", e ? e : "bad ServeGen trace"));
    free(e);
    if (rc == 0) {
        a->windows = w;
        a->nwindows = k;
    }
    return rc;
}

static int load_arrival(ft_spec *s, fu_ynode n, const char *base_dir, ft_arrival *a,
                        char **err)
{
    static const char *const skip_windows[] = { "process", "path", NULL };
    static const char *const skip[] = { "process", NULL };
    const char *p = fu_ynode_str(fu_ymap_get(n, "process"));
    size_t i = 0;
    while (p && i < sizeof processes / sizeof *processes && strcmp(p, processes[i].name))
        i++;
    if (!fu_ynode_is_map(n) || !p || i == sizeof processes / sizeof *processes)
        return fti_yfail(err, fu_ynode_errf(n, "expected arrival: {process: poisson|gamma|"
                                               "weibull|onoff|diurnal|servegen, rate: R, ...}"));
    arr_yaml y = { .cv = 1, .amplitude = 0.5, .period = (int64_t)86400e9, .window = (int64_t)600e9,
                   .scale = 1 };
    int rc = fu_yaml_apply(n, "arrival", processes[i].fields,
                           processes[i].kind == FT_ARR_WINDOWS ? skip_windows : skip, &y, err);
    if (rc == 0 && processes[i].kind != FT_ARR_WINDOWS && !fu_ynode_ok(fu_ymap_get(n, "rate")))
        return fti_yfail(err, fu_ynode_errf(n, "arrival needs a rate (requests per second)"));
    if (rc == 0 && processes[i].kind == FT_ARR_ONOFF &&
        (!fu_ynode_ok(fu_ymap_get(n, "on")) || !fu_ynode_ok(fu_ymap_get(n, "off"))))
        return fti_yfail(err, fu_ynode_errf(n, "an onoff arrival needs on: and off: (mean "
                                               "period lengths, e.g. 30s)"));
    if (rc)
        return rc;
    *a = (ft_arrival){ .kind = processes[i].kind, .rate = y.rate, .cv = y.cv,
                       .off_rate = y.off_rate, .on_s = y.on / 1e9, .off_s = y.off / 1e9,
                       .amplitude = y.amplitude, .period_s = y.period / 1e9,
                       .peak_s = y.peak / 1e9, .window_s = y.window / 1e9 };
    if (a->kind != FT_ARR_WINDOWS)
        return 0;
    a->rate = y.scale;
    return servegen_windows(s, n, base_dir, a, err);
}

/* --- classes --- */

typedef struct have {
    bool input, output;
} have;

static int load_prefix(fu_ynode n, ft_class *c, char **err)
{
    static const fu_yfield fields[] = {
        {"tokens", FU_Y_INT, offsetof(ft_class, prefix_tokens), 0, 0, 1e7, 0, ""},
        {"groups", FU_Y_INT, offsetof(ft_class, prefix_groups), 0, 1, 1e7, 0, ""},
        {"users", FU_Y_INT, offsetof(ft_class, prefix_users), 0, 0, 1e7, 0,
         "users per group, each with a fixed question"},
        {NULL},
    };
    c->prefix_groups = 1;
    return fu_yaml_apply(n, "shared_prefix", fields, NULL, c, err);
}

typedef struct sess_yaml {
    int64_t ttft, tpot, max_context;
} sess_yaml;

/* session: {turns, think, followup, ...} or agent: {calls, tool_time, tool_tokens, ...} */
static int load_session(ft_spec *s, fu_ynode n, bool agent, const char *base_dir,
                        ft_session *ss, char **err)
{
    static const fu_yfield fields[] = {
        {"ttft", FU_Y_DURATION_NS, offsetof(sess_yaml, ttft), 0, 0, 1e4, 0,
         "expected time to first token"},
        {"tpot", FU_Y_DURATION_NS, offsetof(sess_yaml, tpot), 0, 0, 1e3, 0,
         "expected time per output token"},
        {"max_context", FU_Y_INT64, offsetof(sess_yaml, max_context), 0, 0, 1e9, 0, "tokens"},
        {NULL},
    };
    static const char *const skip_s[] = { "turns", "think", "followup", NULL };
    static const char *const skip_a[] = { "calls", "tool_time", "tool_tokens", NULL };
    const char *const *k = agent ? skip_a : skip_s, *what = agent ? "agent" : "session";
    sess_yaml y = { (int64_t)200e6, (int64_t)20e6, 0 };
    int rc = fu_yaml_apply(n, what, fields, k, &y, err);
    fu_ynode turns = fu_ymap_get(n, k[0]), think = fu_ymap_get(n, k[1]),
             follow = fu_ymap_get(n, k[2]);
    if (rc == 0 && !fu_ynode_ok(turns))
        return fti_yfail(err, fu_ynode_errf(n, "%s needs %s: (requests per %s)", what, k[0],
                                            what));
    *ss = (ft_session){ .on = true, .ttft_s = y.ttft / 1e9, .tpot_s = y.tpot / 1e9,
                        .max_context = (uint32_t)y.max_context };
    if (rc == 0)
        rc = load_dist(s, turns, k[0], base_dir, false, &ss->turns, err);
    if (rc == 0 && fu_ynode_ok(think))
        rc = load_dist(s, think, k[1], base_dir, true, &ss->think_s, err);
    if (rc == 0 && fu_ynode_ok(follow))
        rc = load_dist(s, follow, k[2], base_dir, false, &ss->followup, err);
    return rc;
}

static int load_rag(ft_spec *s, fu_ynode n, const char *base_dir, ft_rag *r, char **err)
{
    static const fu_yfield fields[] = {
        {"documents", FU_Y_INT, offsetof(ft_rag, documents), 0, 1, 4194304, 0, "pool size"},
        {"per_request", FU_Y_INT, offsetof(ft_rag, per_request), 0, 1, 1024, 0,
         "documents per prompt"},
        {"zipf", FU_Y_DOUBLE, offsetof(ft_rag, zipf_s), 0, 0, 10, 0, "popularity exponent"},
        {NULL},
    };
    static const char *const skip[] = { "doc_tokens", NULL };
    *r = (ft_rag){ .on = true, .per_request = 1, .zipf_s = 1 };
    int rc = fu_yaml_apply(n, "rag", fields, skip, r, err);
    fu_ynode doc = fu_ymap_get(n, "doc_tokens");
    if (rc == 0 && (!fu_ynode_ok(doc) || !fu_ynode_ok(fu_ymap_get(n, "documents"))))
        return fti_yfail(err, fu_ynode_errf(n, "rag needs documents: (pool size) and "
                                               "doc_tokens: (their lengths)"));
    if (rc == 0 && r->per_request > r->documents)
        return fti_yfail(err, fu_ynode_errf(n, "rag: per_request %u exceeds documents %u",
                                            r->per_request, r->documents));
    return rc ? rc : load_dist(s, doc, "doc_tokens", base_dir, false, &r->doc_tokens, err);
}

/* The keys a class and the top level share: prompt shape and lengths. */
static int load_shape(ft_spec *s, fu_ynode n, const char *base_dir, ft_class *c, have *h,
                      char **err)
{
    fu_ynode in = fu_ymap_get(n, "input"), out = fu_ymap_get(n, "output"),
             pre = fu_ymap_get(n, "shared_prefix"), ses = fu_ymap_get(n, "session"),
             ag = fu_ymap_get(n, "agent"), rag = fu_ymap_get(n, "rag");
    int rc = 0;
    if (fu_ynode_ok(ses) && fu_ynode_ok(ag))
        return fti_yfail(err, fu_ynode_errf(ag, "give session: or agent:, not both"));
    if (fu_ynode_ok(in) && (rc = load_dist(s, in, "input", base_dir, false, &c->input, err)) == 0)
        h->input = true;
    if (rc == 0 && fu_ynode_ok(out) &&
        (rc = load_dist(s, out, "output", base_dir, false, &c->output, err)) == 0)
        h->output = true;
    if (rc == 0 && fu_ynode_ok(pre))
        rc = load_prefix(pre, c, err);
    if (rc == 0 && (fu_ynode_ok(ses) || fu_ynode_ok(ag)))
        rc = load_session(s, fu_ynode_ok(ag) ? ag : ses, fu_ynode_ok(ag), base_dir, &c->session,
                          err);
    if (rc == 0 && fu_ynode_ok(rag))
        rc = load_rag(s, rag, base_dir, &c->rag, err);
    return rc;
}

static int load_class(ft_spec *s, fu_ynode n, const char *base_dir, ft_class *c, have h,
                      char **err)
{
    static const fu_yfield fields[] = {
        {"name", FU_Y_STR, offsetof(ft_class, name), sizeof(((ft_class *)0)->name), 0, 0, 0, ""},
        {"weight", FU_Y_DOUBLE, offsetof(ft_class, weight), 0, 1e-12, 1e12, 0, "share"},
        {"priority", FU_Y_INT, offsetof(ft_class, priority), 0, -1e6, 1e6, 0, ""},
        {NULL},
    };
    static const char *const skip[] = { CLASS_KEYS, NULL };
    if (!fu_ynode_is_map(n))
        return fti_yfail(err, fu_ynode_errf(n, "expected a mapping for a class"));
    c->weight = 1;
    int rc = fu_yaml_apply(n, "class", fields, skip, c, err);
    if (rc == 0)
        rc = load_shape(s, n, base_dir, c, &h, err);
    if (rc == 0 && (!h.input || !h.output))
        return fti_yfail(err, fu_ynode_errf(n, "a class needs input and output (here or at "
                                               "the top of workload:)"));
    return rc;
}

static int load_classes(ft_spec *s, fu_ynode n, const char *base_dir, const ft_class *tmpl,
                        have h, char **err)
{
    size_t k = fu_ynode_len(n);
    if (!fu_ynode_is_seq(n) || k == 0 || k > 64)
        return fti_yfail(err, fu_ynode_errf(n, "expected a list of 1 to 64 classes"));
    ft_class *c = fti_spec_alloc(s, k * sizeof *c);
    if (!c)
        return -ENOMEM;
    for (size_t i = 0; i < k; i++) {
        c[i] = *tmpl;
        int rc = load_class(s, fu_yseq_item(n, i), base_dir, &c[i], h, err);
        if (rc)
            return rc;
    }
    s->gen.classes = c;
    s->gen.nclasses = k;
    return 0;
}

/* A single class using only what the first generator had goes in the legacy fields. */
static int single_class(ft_spec *s, const ft_class *c)
{
    if (!c->session.on && !c->rag.on && !c->prefix_users && !c->priority) {
        s->gen.input = c->input;
        s->gen.output = c->output;
        s->gen.prefix_tokens = c->prefix_tokens;
        s->gen.prefix_groups = c->prefix_groups;
        return 0;
    }
    ft_class *one = fti_spec_alloc(s, sizeof *one);
    if (!one)
        return -ENOMEM;
    *one = *c;
    s->gen.classes = one;
    s->gen.nclasses = 1;
    return 0;
}

static int load_top(ft_spec *s, fu_ynode n, char **err)
{
    static const fu_yfield fields[] = {
        {"requests", FU_Y_INT64, offsetof(ft_gen_config, max_requests), 0, 1, 1e12, 0, ""},
        {"duration", FU_Y_DURATION_NS, offsetof(ft_gen_config, duration_ns), 0, 1e-6, 1e8, 0,
         ""},
        {NULL},
    };
    static const char *const skip[] = { "arrival", "classes", "transforms", "priority",
                                        CLASS_KEYS, NULL };
    return fu_yaml_apply(n, "workload", fields, skip, &s->gen, err);
}

int fti_spec_generator(ft_spec *s, fu_ynode n, const char *base_dir, char **err)
{
    ft_gen_config *g = &s->gen;
    ft_class tmpl = { .weight = 1 };
    have h = { false, false };
    fu_ynode arr = fu_ymap_get(n, "arrival"), cls = fu_ymap_get(n, "classes"),
             pri = fu_ymap_get(n, "priority");
    int rc = load_top(s, n, err);
    bool windows = strcmp(fu_ynode_str(fu_ymap_get(arr, "process")) ?
                          fu_ynode_str(fu_ymap_get(arr, "process")) : "", "servegen") == 0;
    if (rc == 0 && !fu_ynode_ok(arr))
        return fti_yfail(err, fu_ynode_errf(n, "a generated workload needs arrival, input and "
                                               "output (or give trace:)"));
    if (rc == 0 && g->max_requests == 0 && g->duration_ns == 0 && !windows)
        return fti_yfail(err, fu_ynode_errf(n, "a generated workload needs requests: or "
                                               "duration: to end"));
    if (rc == 0)
        rc = load_arrival(s, arr, base_dir, &g->arrival, err);
    if (rc == 0 && fu_ynode_ok(pri)) {
        int64_t v = 0;
        rc = fu_ynode_int64(pri, -1000000, 1000000, &v, err);
        tmpl.priority = (int)v;
    }
    if (rc == 0)
        rc = load_shape(s, n, base_dir, &tmpl, &h, err);
    if (rc == 0 && fu_ynode_ok(cls))
        return load_classes(s, cls, base_dir, &tmpl, h, err);
    if (rc == 0 && (!h.input || !h.output))
        return fti_yfail(err, fu_ynode_errf(n, "a generated workload needs arrival, input and "
                                               "output (or give trace:)"));
    return rc ? rc : single_class(s, &tmpl);
}

const char *fti_spec_class_name(const ft_spec *s, size_t i)
{
    if (s->kind != FT_SPEC_GENERATOR || i >= s->gen.nclasses || !s->gen.classes[i].name[0])
        return NULL;
    return s->gen.classes[i].name;
}
