/*
 * stats.c: the statistics `fleetsim trace stats` prints for a workload.
 *
 * One pass over any source: rows, time span, mean rate, the inter-arrival CV (GSL
 * running statistics), the peak number of arrivals in any sliding 1 s and 60 s
 * window, exact median/p90/p99 of input and output lengths, and for workloads with
 * prefix structure the share of input tokens an unlimited prefix cache would serve.
 * Workload assumed: up to tens of millions of rows. Memory: the length histograms
 * are exact (an array below 65,536 tokens, a map of the distinct longer lengths), the
 * sliding windows grow with the peak count per 60 s, and the prefix share with the
 * number of distinct blocks (that is what an unlimited cache holds); none with the
 * row count as such. Rejected: sorting all lengths for exact percentiles (memory grows with
 * rows); P-square estimates (approximate, and the counts are small integers anyway).
 */
#include "ft_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rstat.h>

/*
 * Exact counts of lengths: a direct array below SMALL (where nearly all lengths lie)
 * and a small open-addressing map of the distinct longer ones, sorted when the
 * quantiles are read. Memory: 512 KiB plus the distinct long lengths.
 */
enum { SMALL = 1 << 16 };

typedef struct big {
    uint32_t v;
    uint64_t c;
} big;

typedef struct hist {
    uint64_t *small;
    big *map;                   /* v == 0: empty (0 is always small) */
    size_t cap, nbig;
    uint64_t n, max;
    double sum;
} hist;

static size_t big_slot(const hist *h, uint32_t v)
{
    size_t i = (size_t)(v * 0x9E3779B1u) & (h->cap - 1);
    while (h->map[i].v && h->map[i].v != v)
        i = (i + 1) & (h->cap - 1);
    return i;
}

static int big_add(hist *h, uint32_t v)
{
    if (2 * (h->nbig + 1) > h->cap) {
        hist g = { .cap = h->cap ? 2 * h->cap : 256 };
        if (!(g.map = calloc(g.cap, sizeof *g.map)))
            return -ENOMEM;
        for (size_t i = 0; i < h->cap; i++)
            if (h->map[i].v)
                g.map[big_slot(&g, h->map[i].v)] = h->map[i];
        free(h->map);
        h->map = g.map;
        h->cap = g.cap;
    }
    size_t i = big_slot(h, v);
    if (!h->map[i].v)
        h->map[i].v = v, h->nbig++;
    h->map[i].c++;
    return 0;
}

static int hist_add(hist *h, uint32_t v)
{
    if (!h->small && !(h->small = calloc(SMALL, sizeof *h->small)))
        return -ENOMEM;
    if (v < SMALL)
        h->small[v]++;
    else if (big_add(h, v) != 0)
        return -ENOMEM;
    h->n++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
    return 0;
}

static int by_v(const void *a, const void *b)
{
    uint32_t x = ((const big *)a)->v, y = ((const big *)b)->v;
    return (x > y) - (x < y);
}

/* The smallest length with at least q of the rows at or below it (map sorted). */
static uint64_t hist_quantile(const hist *h, const big *sorted, double q)
{
    uint64_t need = (uint64_t)ceil(q * h->n), seen = 0;
    if (need == 0)
        need = 1;
    for (size_t i = 0; i < SMALL; i++)
        if ((seen += h->small[i]) >= need)
            return i;
    for (size_t i = 0; i < h->nbig; i++)
        if ((seen += sorted[i].c) >= need)
            return sorted[i].v;
    return h->max;
}

static int hist_stats(const hist *h, ft_len_stats *s)
{
    memset(s, 0, sizeof *s);
    if (h->n == 0)
        return 0;
    big *sorted = malloc((h->nbig ? h->nbig : 1) * sizeof *sorted);
    if (!sorted)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < h->cap; i++)
        if (h->map[i].v)
            sorted[k++] = h->map[i];
    qsort(sorted, k, sizeof *sorted, by_v);
    s->mean = h->sum / h->n;
    s->median = hist_quantile(h, sorted, 0.5);
    s->p90 = hist_quantile(h, sorted, 0.9);
    s->p99 = hist_quantile(h, sorted, 0.99);
    s->max = h->max;
    free(sorted);
    return 0;
}

/* Arrivals inside a sliding window of `width` ns: a ring buffer of times. */
typedef struct window {
    int64_t width;
    int64_t *t;
    size_t cap, head, n;
    uint64_t peak;
} window;

static int window_add(window *w, int64_t t)
{
    while (w->n && w->t[w->head] <= t - w->width) {
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 1024;
        int64_t *p = malloc(cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        for (size_t i = 0; i < w->n; i++)
            p[i] = w->t[(w->head + i) % w->cap];
        free(w->t);
        w->t = p;
        w->cap = cap;
        w->head = 0;
    }
    w->t[(w->head + w->n) % w->cap] = t;
    if (++w->n > w->peak)
        w->peak = w->n;
    return 0;
}

/* The set of block hashes an unlimited prefix cache holds: open addressing. */
typedef struct hset {
    uint64_t *slot;             /* 0 = empty; hash 0 is stored as 1 */
    size_t cap, n;
} hset;

static size_t hset_find(const hset *s, uint64_t h)
{
    size_t i = (size_t)(h * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->slot[i] && s->slot[i] != h)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static int hset_add(hset *s, uint64_t h)
{
    h = h ? h : 1;
    if (2 * (s->n + 1) > s->cap) {
        hset grown = { calloc(s->cap ? 2 * s->cap : 4096, sizeof *grown.slot), 0, 0 };
        if (!grown.slot)
            return -ENOMEM;
        grown.cap = s->cap ? 2 * s->cap : 4096;
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i])
                grown.slot[hset_find(&grown, s->slot[i])] = s->slot[i], grown.n++;
        free(s->slot);
        *s = grown;
    }
    size_t i = hset_find(s, h);
    if (!s->slot[i])
        s->slot[i] = h, s->n++;
    return 0;
}

static bool hset_has(const hset *s, uint64_t h)
{
    return s->cap && s->slot[hset_find(s, h ? h : 1)];
}

typedef struct acc {
    hist in, out;
    window w1, w60;
    gsl_rstat_workspace *gaps;
    int64_t first, last;
    hset cache;
    uint64_t *hashes;
    size_t hcap;
    uint32_t block;
    double served, tokens;
} acc;

/*
 * Leading blocks of r already in the cache count as served; then all are cached.
 * Only the first MAX_BLOCKS blocks of a prompt are looked at (4M tokens at block size
 * 16, beyond today's context windows), so a damaged row cannot make us hash and keep
 * GiBs of blocks.
 */
enum { MAX_BLOCKS = 1 << 18 };

static int prefix_add(acc *a, const ft_request *r)
{
    size_t nb = r->input_tokens / a->block;
    if (nb > MAX_BLOCKS)
        nb = MAX_BLOCKS;
    if (nb > a->hcap) {
        uint64_t *h = realloc(a->hashes, nb * sizeof *h);
        if (!h)
            return -ENOMEM;
        a->hashes = h;
        a->hcap = nb;
    }
    nb = ft_block_hashes(r->segs, r->nsegs, a->block, 0, a->hashes, nb);
    size_t k = 0;
    while (k < nb && hset_has(&a->cache, a->hashes[k]))
        k++;
    a->served += (double)k * a->block;
    a->tokens += r->input_tokens;
    for (size_t i = k; i < nb; i++)
        if (hset_add(&a->cache, a->hashes[i]) != 0)
            return -ENOMEM;
    return 0;
}

static int add(acc *a, const ft_request *r, uint64_t n, bool prefix)
{
    if (n == 0)
        a->first = r->arrival_ns;
    else
        gsl_rstat_add((r->arrival_ns - a->last) / 1e9, a->gaps);
    a->last = r->arrival_ns;
    if (hist_add(&a->in, r->input_tokens) || hist_add(&a->out, r->output_tokens) ||
        window_add(&a->w1, r->arrival_ns) || window_add(&a->w60, r->arrival_ns))
        return -ENOMEM;
    return prefix ? prefix_add(a, r) : 0;
}

static void acc_free(acc *a)
{
    free(a->in.small);
    free(a->in.map);
    free(a->out.small);
    free(a->out.map);
    free(a->w1.t);
    free(a->w60.t);
    if (a->gaps)
        gsl_rstat_free(a->gaps);
    free(a->cache.slot);
    free(a->hashes);
}

static int summarize(const acc *a, uint64_t n, ft_stats *out)
{
    out->rows = n;
    out->span_s = n ? (a->last - a->first) / 1e9 : 0;
    out->mean_rate = out->span_s > 0 ? n / out->span_s : 0;
    double m = n > 1 ? gsl_rstat_mean(a->gaps) : 0;
    out->gap_cv = n > 2 && m > 0 ? gsl_rstat_sd(a->gaps) / m : 0;
    out->peak_1s = a->w1.peak;
    out->peak_60s = a->w60.peak;
    out->prefix_block = a->block;
    out->prefix_share = a->tokens > 0 ? a->served / a->tokens : 0;
    if (hist_stats(&a->in, &out->input) || hist_stats(&a->out, &out->output))
        return -ENOMEM;
    return 0;
}

int ft_stats_compute(ft_source *s, const ft_stats_opts *o, ft_stats *out, char **err)
{
    acc a = { .w1 = { .width = 1000000000 }, .w60 = { .width = 60000000000 } };
    a.block = o && o->prefix_block ? o->prefix_block : 16;
    a.gaps = gsl_rstat_alloc();
    int want = o ? o->prefix : -1;
    ft_source_info info;
    ft_request r;
    uint64_t n = 0;
    int rc = a.gaps ? 0 : -ENOMEM;
    bool prefix = false;
    while (rc == 0 && (rc = ft_source_next(s, &r, err)) == 1) {
        if (n == 0) {
            ft_source_get_info(s, &info);
            prefix = want == 1 || (want < 0 && info.shares_prefixes);
        }
        rc = add(&a, &r, n++, prefix);
    }
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        rc = summarize(&a, n, out);
        out->prefix_done = prefix;
        ft_source_get_info(s, &out->info);
        out->info.first_skipped = NULL;
    }
    if (rc == -ENOMEM && err && !*err)
        *err = strdup("trace stats: out of memory");
    acc_free(&a);
    return rc;
}
