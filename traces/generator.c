/*
 * generator.c: a synthetic workload source drawn from GSL random streams.
 *
 * Models the open-loop traffic of an LLM service: arrivals from one of the processes
 * of arrival.c; each arrival belongs to a class of a weighted mixture (chat, RAG,
 * agents, batch...), whose prompts are described by segments so that prefix caching
 * and prefix-aware routing see the sharing a real service has:
 *  - shared system prompts (N groups) and, as in llm-d's shared-prefix benchmark, M
 *    users per group each with a fixed question, so repeats hit the cache in full;
 *  - retrieval-augmented prompts with documents from a shared pool, drawn by Zipf
 *    popularity;
 *  - multi-turn sessions and agentic loops, whose every request repeats the previous
 *    prompt and response (named by output_content) and adds a new message or tool
 *    result, released after the previous response's expected end plus a think time.
 * Workload assumed: up to tens of millions of requests; O(1) work per request plus
 * the prompt's segments, memory proportional to the sessions open at once (their
 * histories), never to the number of requests.
 *
 * Reproducibility: one gsl_rng_mt19937 stream seeded with cfg->seed and a fixed order
 * of draws (ft_workload.h), so the same configuration gives the same sequence on
 * every platform GSL supports; a single-class configuration without sessions, users
 * or documents draws exactly what the first version of this generator drew.
 */
#include "ft_internal.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

enum { MAX_CLASSES = 64, MAX_USERS = 1 << 22 };

typedef struct gclass {
    ft_class c;
    fti_dist input, output, turns, think, followup, doc;
    uint32_t *user_len;         /* question length per (group, user) */
    uint32_t *doc_len;          /* length per document */
    uint64_t *doc_w;            /* popularity weight per document */
    uint64_t *doc_tree;         /* Fenwick tree over doc_w (picks without replacement) */
    uint64_t doc_total;
} gclass;

/* An open session: its history, and when and what its next request is. */
typedef struct session {
    double t;                   /* release time of the next request, seconds */
    uint64_t seq;               /* tie-breaker: order of scheduling */
    uint64_t id;
    uint32_t cls, turn, turns;
    ft_segment *segs;           /* history: prompt of the last request ... */
    uint32_t nsegs, cap;
    uint64_t tokens;            /* sum of segs' lengths */
    ft_segment pending_out;     /* ... and its response, appended at the next release */
} session;

typedef struct gen {
    ft_gen_config cfg;
    gsl_rng *rng;
    fti_arrivals arr;
    gclass *cls;
    size_t ncls;
    gsl_ran_discrete_t *cls_pick;   /* NULL with one class */
    bool have_next;                 /* next_t is drawn and not yet used */
    bool arrivals_done;
    double next_t;
    session **heap;                 /* sessions waiting for their next request */
    size_t nheap, capheap;
    session *retired;               /* ended session whose segments the last request uses */
    uint64_t n, nsessions, seq;
    bool shares;                    /* any sharing (for ft_source_info) */
    ft_segment *segs;               /* the current request's prompt (non-session) */
    size_t capsegs;
} gen;

static int oom(char **err)
{
    if (err)
        *err = strdup("generator: out of memory");
    return -ENOMEM;
}

/*
 * Content ids are hashes of a tag, an index and the seed, so prefix ids, unique ids
 * and the ids of generators with other seeds do not collide (short of a 64-bit hash
 * collision). Rejected: counters, which two generators in one scenario would share.
 */
static uint64_t content_id(const char *tag, uint64_t index, uint64_t seed)
{
    unsigned char buf[32] = { 0 };
    size_t n = strlen(tag);
    memcpy(buf, tag, n < 16 ? n : 16);
    for (int i = 0; i < 8; i++) {
        buf[16 + i] = (unsigned char)(index >> (8 * i));
        buf[24 + i] = (unsigned char)(seed >> (8 * i));
    }
    return XXH64(buf, sizeof buf, 0);
}

/* --- validation and set-up of a class --- */

static int class_dist(fti_dist *out, const ft_dist *d, const char *pre, const char *name,
                      bool real, char **err)
{
    char field[64];
    snprintf(field, sizeof field, "%s%s", pre, name);
    return fti_dist_init(out, d, field, real, err);
}

static int check_class(const ft_class *c, const char *pre, char **err)
{
    if (!isfinite(c->weight) || c->weight <= 0)
        return fti_gen_fail(err, "%sweight: expected a finite weight > 0, got %g", pre,
                            c->weight);
    if (c->prefix_tokens > UINT32_MAX / 2)
        return fti_gen_fail(err, "%sprefix_tokens: expected at most %u, got %u", pre,
                            UINT32_MAX / 2, c->prefix_tokens);
    uint64_t groups = c->prefix_groups ? c->prefix_groups : 1;
    if (c->prefix_users && groups * c->prefix_users > MAX_USERS)
        return fti_gen_fail(err, "%sprefix_users: groups x users must be at most %d, got "
                            "%llu", pre, MAX_USERS, (unsigned long long)(groups * c->prefix_users));
    const ft_session *s = &c->session;
    if (s->on && (!isfinite(s->ttft_s) || s->ttft_s < 0 || !isfinite(s->tpot_s) || s->tpot_s < 0))
        return fti_gen_fail(err, "%ssession.ttft/tpot: expected finite times >= 0", pre);
    const ft_rag *g = &c->rag;
    if (g->on && (g->documents == 0 || g->documents > MAX_USERS || g->per_request == 0 ||
                  g->per_request > g->documents || g->per_request > 1024))
        return fti_gen_fail(err, "%srag: expected 1 <= per_request <= min(documents, 1024) "
                            "and documents <= %d", pre, MAX_USERS);
    if (g->on && (!isfinite(g->zipf_s) || g->zipf_s < 0))
        return fti_gen_fail(err, "%srag.zipf: expected a finite exponent >= 0", pre);
    return 0;
}

static int class_dists(gclass *k, const char *pre, char **err)
{
    const ft_class *c = &k->c;
    int rc = class_dist(&k->input, &c->input, pre, "input", false, err);
    if (rc == 0)
        rc = class_dist(&k->output, &c->output, pre, "output", false, err);
    if (rc == 0 && c->session.on)
        rc = class_dist(&k->turns, &c->session.turns, pre, "session.turns", false, err);
    if (rc == 0 && c->session.on)
        rc = class_dist(&k->think, &c->session.think_s, pre, "session.think", true, err);
    bool follow = c->session.followup.kind != FT_DIST_FIXED || c->session.followup.mean > 0;
    if (rc == 0 && c->session.on && follow)
        rc = class_dist(&k->followup, &c->session.followup, pre, "session.followup", false, err);
    if (rc == 0 && c->rag.on)
        rc = class_dist(&k->doc, &c->rag.doc_tokens, pre, "rag.doc_tokens", false, err);
    return rc;
}

/*
 * Documents are picked by popularity without replacement (the k documents of a prompt
 * are distinct): successive draws from a Fenwick tree of integer weights, each pick's
 * weight removed for the rest of the prompt and restored after, O(k log D).
 * Rejected: redrawing duplicates from a static alias table (gsl_ran_discrete), the
 * same distribution but unbounded time when popularity is steep (zipf 8 over 100
 * documents needs millions of draws for the 7th distinct one).
 */
static void fenwick_add(uint64_t *t, size_t n, size_t i, int64_t delta)
{
    for (size_t j = i + 1; j <= n; j += j & -j)
        t[j] += (uint64_t)delta;
}

/* The index i with prefix(i) <= u < prefix(i + 1), for u < the total weight. */
static size_t fenwick_find(const uint64_t *t, size_t n, uint64_t u)
{
    size_t pos = 0, step = 1;
    while (step * 2 <= n)
        step *= 2;
    for (; step; step /= 2)
        if (pos + step <= n && t[pos + step] <= u) {
            pos += step;
            u -= t[pos];
        }
    return pos;
}

/* Draws the fixed lengths (questions per user, documents) and the Zipf table. */
static int class_tables(gen *g, gclass *k)
{
    const ft_class *c = &k->c;
    if (c->prefix_users) {
        size_t n = (size_t)(c->prefix_groups ? c->prefix_groups : 1) * c->prefix_users;
        if (!(k->user_len = malloc(n * sizeof *k->user_len)))
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            k->user_len[i] = fti_dist_len(&k->input, g->rng, UINT32_MAX / 4);
    }
    if (!c->rag.on)
        return 0;
    size_t n = c->rag.documents;
    k->doc_len = malloc(n * sizeof *k->doc_len);
    k->doc_w = malloc(n * sizeof *k->doc_w);
    k->doc_tree = calloc(n + 1, sizeof *k->doc_tree);
    if (!k->doc_len || !k->doc_w || !k->doc_tree)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        k->doc_len[i] = fti_dist_len(&k->doc, g->rng, UINT32_MAX / 4 / c->rag.per_request);
        /* integer weights (2^62 / documents) / rank^s, at least 1: exact sums that fit
           64 bits, no drift over millions of removals and restorations */
        double w = ldexp(pow((double)(i + 1), -c->rag.zipf_s), 62) / (double)n;
        k->doc_w[i] = w >= 1 ? (uint64_t)w : 1;
        fenwick_add(k->doc_tree, n, i, (int64_t)k->doc_w[i]);
        k->doc_total += k->doc_w[i];
    }
    return 0;
}

static void class_free(gclass *k)
{
    fti_dist_free(&k->input);
    fti_dist_free(&k->output);
    fti_dist_free(&k->turns);
    fti_dist_free(&k->think);
    fti_dist_free(&k->followup);
    fti_dist_free(&k->doc);
    free(k->user_len);
    free(k->doc_len);
    free(k->doc_w);
    free(k->doc_tree);
}

/* The one class of a configuration without a mixture. */
static ft_class legacy_class(const ft_gen_config *c)
{
    ft_class k;
    memset(&k, 0, sizeof k);
    k.weight = 1;
    k.input = c->input;
    k.output = c->output;
    k.prefix_tokens = c->prefix_tokens;
    k.prefix_groups = c->prefix_groups;
    return k;
}

static int setup_classes(gen *g, const ft_gen_config *c, char **err)
{
    ft_class one = legacy_class(c);
    const ft_class *src = c->nclasses ? c->classes : &one;
    g->ncls = c->nclasses ? c->nclasses : 1;
    if (g->ncls > MAX_CLASSES)
        return fti_gen_fail(err, "classes: expected at most %d classes, got %zu", MAX_CLASSES,
                            g->ncls);
    if (!(g->cls = calloc(g->ncls, sizeof *g->cls)))
        return oom(err);
    for (size_t i = 0; i < g->ncls; i++) {
        char pre[48] = "";
        if (c->nclasses)
            snprintf(pre, sizeof pre, "classes[%zu].", i);
        g->cls[i].c = src[i];
        int rc = check_class(&src[i], pre, err);
        if (rc == 0)
            rc = class_dists(&g->cls[i], pre, err);
        if (rc != 0)
            return rc;
        g->shares |= src[i].prefix_tokens > 0 || src[i].session.on || src[i].rag.on;
    }
    return 0;
}

static int setup_mixture(gen *g, char **err)
{
    for (size_t i = 0; i < g->ncls; i++)
        if (class_tables(g, &g->cls[i]) != 0)
            return oom(err);
    if (g->ncls < 2)
        return 0;
    double w[MAX_CLASSES];
    for (size_t i = 0; i < g->ncls; i++)
        w[i] = g->cls[i].c.weight;
    g->cls_pick = gsl_ran_discrete_preproc(g->ncls, w);
    return g->cls_pick ? 0 : oom(err);
}

static int check_config(const ft_gen_config *c, char **err)
{
    if (c->duration_ns < 0)
        return fti_gen_fail(err, "duration_ns: expected >= 0, got %lld", (long long)c->duration_ns);
    if (c->max_requests == 0 && c->duration_ns == 0 && c->arrival.kind != FT_ARR_WINDOWS)
        return fti_gen_fail(err, "max_requests and duration_ns are both 0 (unlimited): set "
                            "at least one, an endless workload never finishes");
    if (c->nclasses && !c->classes)
        return fti_gen_fail(err, "classes: nclasses > 0 without classes");
    return 0;
}

/* --- the pending sessions: a binary min-heap on (t, seq) --- */

static bool before(const session *a, const session *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int heap_push(gen *g, session *s)
{
    if (g->nheap == g->capheap) {
        size_t cap = g->capheap ? 2 * g->capheap : 64;
        session **h = realloc(g->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        g->heap = h;
        g->capheap = cap;
    }
    s->seq = g->seq++;
    size_t i = g->nheap++;
    while (i > 0 && before(s, g->heap[(i - 1) / 2])) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = s;
    return 0;
}

static session *heap_pop(gen *g)
{
    session *top = g->heap[0], *last = g->heap[--g->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= g->nheap)
            break;
        if (c + 1 < g->nheap && before(g->heap[c + 1], g->heap[c]))
            c++;
        if (!before(g->heap[c], last))
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (g->nheap)
        g->heap[i] = last;
    return top;
}

static void session_free(session *s)
{
    if (s) {
        free(s->segs);
        free(s);
    }
}

static int session_add(session *s, ft_segment seg)
{
    if (s->nsegs == s->cap) {
        uint32_t cap = s->cap ? 2 * s->cap : 8;
        ft_segment *p = realloc(s->segs, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        s->segs = p;
        s->cap = cap;
    }
    s->segs[s->nsegs++] = seg;
    s->tokens += seg.len;
    return 0;
}

/* --- prompts --- */

static int reserve_segs(gen *g, size_t n)
{
    if (n <= g->capsegs)
        return 0;
    ft_segment *p = realloc(g->segs, n * sizeof *p);
    if (!p)
        return -ENOMEM;
    g->segs = p;
    g->capsegs = n;
    return 0;
}

/* Picks `k` distinct documents by popularity into segs; returns their tokens. */
static uint64_t draw_documents(gen *g, size_t ci, ft_segment *segs)
{
    gclass *k = &g->cls[ci];
    size_t n = k->c.rag.documents, picked[1024];
    uint32_t want = k->c.rag.per_request;
    uint64_t total = k->doc_total, tokens = 0;
    for (uint32_t i = 0; i < want; i++) {
        uint64_t u = (uint64_t)(gsl_rng_uniform(g->rng) * (double)total);
        size_t d = fenwick_find(k->doc_tree, n, u < total ? u : total - 1);
        picked[i] = d;
        fenwick_add(k->doc_tree, n, d, -(int64_t)k->doc_w[d]);
        total -= k->doc_w[d];
        segs[i] = (ft_segment){ content_id("gen/doc", (uint64_t)ci << 32 | d, g->cfg.seed),
                                k->doc_len[d] };
        tokens += k->doc_len[d];
    }
    for (uint32_t i = 0; i < want; i++)
        fenwick_add(k->doc_tree, n, picked[i], (int64_t)k->doc_w[picked[i]]);
    return tokens;
}

/*
 * Fills the prompt of a new arrival of class ci into g->segs: the group's prefix, the
 * documents, then the question (the user's fixed one, or a unique one). Returns the
 * segment count; *tokens = their total.
 */
static uint32_t draw_prompt(gen *g, size_t ci, uint64_t *tokens)
{
    const gclass *k = &g->cls[ci];
    const ft_class *c = &k->c;
    uint64_t seed = g->cfg.seed, grp = 0;
    uint32_t n = 0;
    *tokens = 0;
    if (c->prefix_tokens > 0) {
        uint32_t groups = c->prefix_groups ? c->prefix_groups : 1;
        grp = gsl_rng_uniform_int(g->rng, groups);
        g->segs[n++] = (ft_segment){ content_id("gen/prefix", (uint64_t)ci << 32 | grp, seed),
                                     c->prefix_tokens };
        *tokens += c->prefix_tokens;
    }
    if (c->prefix_users) {
        uint64_t user = grp * c->prefix_users + gsl_rng_uniform_int(g->rng, c->prefix_users);
        uint32_t len = k->user_len[user];
        if (c->rag.on)
            *tokens += draw_documents(g, ci, g->segs + n), n += c->rag.per_request;
        g->segs[n++] = (ft_segment){ content_id("gen/question", (uint64_t)ci << 32 | user, seed),
                                     len };
        *tokens += len;
        return n;
    }
    if (c->rag.on)
        *tokens += draw_documents(g, ci, g->segs + n), n += c->rag.per_request;
    uint32_t len = fti_dist_len(&k->input, g->rng, UINT32_MAX / 2 - (uint32_t)*tokens);
    g->segs[n++] = (ft_segment){ content_id("gen/unique", g->n, seed), len };
    *tokens += len;
    return n;
}

/* --- sessions --- */

/* Schedules the session's next request after this one, if it has one. */
static int schedule_next(gen *g, session *s, const ft_request *r)
{
    const gclass *k = &g->cls[s->cls];
    if (++s->turn >= s->turns)
        return 1;                                         /* that was the last */
    const ft_session *cfg = &k->c.session;
    double think = fti_dist_real(&k->think, g->rng);
    s->t = r->arrival_ns / 1e9 + cfg->ttft_s + r->output_tokens * cfg->tpot_s + think;
    s->pending_out = (ft_segment){ r->output_content, r->output_tokens };
    return heap_push(g, s) ? -ENOMEM : 0;
}

/* Opens a session whose first request is *r (prompt in g->segs). */
static int session_open(gen *g, size_t ci, ft_request *r)
{
    session *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->id = ++g->nsessions;
    s->cls = (uint32_t)ci;
    s->turns = fti_dist_len(&g->cls[ci].turns, g->rng, 1u << 20);
    for (uint32_t i = 0; i < r->nsegs; i++)
        if (session_add(s, r->segs[i]) != 0)
            return session_free(s), -ENOMEM;
    r->session = s->id;
    r->segs = s->segs;
    int rc = schedule_next(g, s, r);
    if (rc != 0) {                          /* a one-turn session, or out of memory */
        g->retired = s;
        return rc < 0 ? rc : 0;
    }
    return 0;
}

/* The next request of a pending session: 1 = *r filled, 0 = the session ended. */
static int session_request(gen *g, session *s, ft_request *r)
{
    const gclass *k = &g->cls[s->cls];
    const ft_session *cfg = &k->c.session;
    const fti_dist *msg = k->followup.d.kind == FT_DIST_FIXED && k->followup.d.mean == 0
                              ? &k->input : &k->followup;
    uint32_t len = fti_dist_len(msg, g->rng, UINT32_MAX / 4);
    uint32_t out = fti_dist_len(&k->output, g->rng, UINT32_MAX / 4);
    uint64_t total = s->tokens + s->pending_out.len + len;
    if ((cfg->max_context && total > cfg->max_context) || total > UINT32_MAX / 2)
        return 0;
    if (session_add(s, s->pending_out) || session_add(s, (ft_segment){
            content_id("gen/unique", g->n, g->cfg.seed), len }))
        return -ENOMEM;
    memset(r, 0, sizeof *r);
    r->arrival_ns = llround(s->t * 1e9);
    r->segs = s->segs;
    r->nsegs = s->nsegs;
    r->input_tokens = (uint32_t)s->tokens;
    r->output_tokens = out;
    r->output_content = content_id("gen/output", g->n, g->cfg.seed);
    r->session = s->id;
    r->cls = (int)s->cls;
    r->priority = k->c.priority;
    return 1;
}

/* --- the source --- */

static bool past_end(const gen *g, int64_t t)
{
    return g->cfg.duration_ns && t > g->cfg.duration_ns;
}

/* A new arrival at next_t: draws its class and prompt. */
static int new_request(gen *g, ft_request *out)
{
    size_t ci = g->cls_pick ? gsl_ran_discrete(g->rng, g->cls_pick) : 0;
    const gclass *k = &g->cls[ci];
    size_t need = 2 + (k->c.rag.on ? k->c.rag.per_request : 0);
    if (reserve_segs(g, need) != 0)
        return -ENOMEM;
    uint64_t tokens;
    memset(out, 0, sizeof *out);
    out->arrival_ns = llround(g->next_t * 1e9);   /* from the double sum: rounding never drifts */
    out->nsegs = draw_prompt(g, ci, &tokens);
    out->segs = g->segs;
    out->input_tokens = (uint32_t)tokens;
    out->output_tokens = fti_dist_len(&k->output, g->rng, UINT32_MAX);
    out->cls = (int)ci;
    out->priority = k->c.priority;
    if (!k->c.session.on)
        return 1;
    out->output_content = content_id("gen/output", g->n, g->cfg.seed);
    return session_open(g, ci, out) < 0 ? -ENOMEM : 1;
}

/* Draws the next arrival time if needed; false when arrivals have ended. */
static bool next_arrival(gen *g)
{
    if (g->have_next)
        return true;
    if (g->arrivals_done || !fti_arrivals_next(&g->arr, g->rng, &g->next_t) ||
        past_end(g, llround(g->next_t * 1e9))) {
        g->arrivals_done = true;
        return false;
    }
    g->have_next = true;
    return true;
}

/* The next request of the earliest pending session: 1 = got one, 0 = it ended. */
static int session_next(gen *g, ft_request *out)
{
    session *s = heap_pop(g);
    int rc = past_end(g, llround(s->t * 1e9)) ? 0 : session_request(g, s, out);
    if (rc <= 0) {
        session_free(s);
        return rc;
    }
    rc = schedule_next(g, s, out);
    if (rc != 0)                            /* its last request, or out of memory */
        g->retired = s;
    return rc < 0 ? rc : 1;
}

static int gen_next(void *self, ft_request *out, char **err)
{
    gen *g = self;
    session_free(g->retired);
    g->retired = NULL;
    while (!g->cfg.max_requests || g->n < g->cfg.max_requests) {
        bool arrival = next_arrival(g);
        int rc;
        if (g->nheap > 0 && (!arrival || g->heap[0]->t <= g->next_t)) {
            rc = session_next(g, out);
        } else if (arrival) {
            g->have_next = false;
            rc = new_request(g, out);
        } else {
            return 0;
        }
        if (rc < 0)
            return oom(err);
        if (rc == 1) {
            g->n++;
            return 1;
        }
    }
    return 0;
}

static void gen_info(void *self, ft_source_info *out)
{
    out->shares_prefixes = ((gen *)self)->shares;
}

static void gen_destroy(void *self)
{
    gen *g = self;
    if (!g)
        return;
    for (size_t i = 0; i < g->nheap; i++)
        session_free(g->heap[i]);
    session_free(g->retired);
    free(g->heap);
    for (size_t i = 0; g->cls && i < g->ncls; i++)
        class_free(&g->cls[i]);
    free(g->cls);
    if (g->cls_pick)
        gsl_ran_discrete_free(g->cls_pick);
    fti_arrivals_free(&g->arr);
    gsl_rng_free(g->rng);
    free(g->segs);
    free(g);
}

static const ft_source_ops gen_ops = { "generator", gen_next, gen_destroy, gen_info };

int ft_gen_new(const ft_gen_config *cfg, ft_source **out, char **err)
{
    assert(cfg && out);
    *out = NULL;
    gen *g = calloc(1, sizeof *g);
    if (!g || !(g->rng = gsl_rng_alloc(gsl_rng_mt19937))) {
        free(g);
        return oom(err);
    }
    g->cfg = *cfg;
    g->cfg.classes = NULL;                  /* borrowed: g->cls holds the copies */
    /* GSL's mt19937 keeps 32 bits of its seed: fold the high half in rather than drop it. */
    gsl_rng_set(g->rng, (unsigned long)((cfg->seed ^ (cfg->seed >> 32)) & 0xffffffffu));
    int rc = fti_arrivals_init(&g->arr, &cfg->arrival, err);
    if (rc == 0)
        rc = setup_classes(g, cfg, err);
    if (rc == 0)
        rc = check_config(cfg, err);
    if (rc == 0)
        rc = setup_mixture(g, err);
    if (rc != 0) {
        gen_destroy(g);
        return rc;
    }
    *out = ft_source_wrap(&gen_ops, g);
    return *out ? 0 : oom(err);
}
