/*
 * index_approx.c: llm-d's approximate prefix-cache index (approx-prefix-cache-producer's
 * indexer.go): which endpoints probably hold a block, learned from the router's own
 * decisions rather than from the engines.
 *
 * Model: hash -> set of endpoints, and per endpoint an LRU of the hashes it was sent,
 * whose capacity is fixed when the endpoint is first added (num_gpu_blocks of the
 * endpoint, or the configured default of 31,250). Adding a hash makes it the endpoint's
 * most recent; past the capacity the least recent is evicted and the endpoint leaves
 * that hash's set.
 *
 * Workload: per pick, one greedy match over up to 2,048 hashes (usually ~100) and one
 * add of the same hashes for one or two endpoints; millions of (hash, endpoint) entries
 * in a long simulation (64 endpoints x 31,250). Layout, chosen to touch few cache lines
 * per block: one 24-byte node per (hash, endpoint) in a pool addressed by 32-bit index,
 * on a doubly linked list of the hash's holders; an open-addressing table (linear
 * probing, backward-shift deletion) from hash to its first holder; and per endpoint a
 * ring buffer of (node, touch stamp) in touch order. Touching a node stamps it and
 * appends to the ring; eviction pops the ring's oldest entries, skipping stale ones
 * (the node was touched again since, or freed), which gives exactly LRU order. The
 * ring is compacted when stale entries outnumber live ones, so it stays O(capacity).
 * Finding (hash, endpoint) walks the hash's holders: the greedy match already costs
 * O(holders) per block, so this keeps the same order and saves a second table.
 * Rejected: an intrusive doubly linked LRU (moving a node to the front touches both
 * neighbours and the old head: three more cache misses per block, measured 1.6x slower
 * per pick); a (hash, endpoint) -> node table (one more table of misses per insert and
 * eviction); a holder bitset per hash (O(endpoints/64) words per distinct hash).
 *
 * DEVIATION: llm-d's Add first pushes all hashes through the LRU and then adds the
 * endpoint to every hash's set, so when one request carries more hashes than the LRU
 * holds, hashes evicted within that same Add stay in the set without an LRU entry.
 * Here the two structures always agree; results differ only when an endpoint's
 * capacity is below one request's block count.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fp_internal.h"

typedef struct anode {
    uint64_t h;
    uint32_t ep;            /* FP__NIL when free */
    uint32_t stamp;         /* last touch, from the endpoint's counter */
    uint32_t hprev, hnext;  /* holders of h; hnext doubles as the free-list link */
} anode;

typedef struct hslot {
    uint64_t h;
    uint32_t head;          /* first holder; FP__NIL = empty slot */
} hslot;

typedef struct touch {
    uint32_t node, stamp;
} touch;

typedef struct eplru {
    touch *ring;            /* touch order, oldest at head */
    uint32_t ring_cap;      /* power of two */
    uint32_t head, count;   /* entries in the ring (live and stale) */
    uint32_t len, cap;      /* live nodes; capacity (0: endpoint never added) */
    uint32_t clock;         /* stamp counter */
} eplru;

struct fp__approx {
    anode *nodes;
    size_t nodes_cap, nodes_top;
    uint32_t free_head;
    hslot *hs;
    size_t hs_cap, hs_n;
    eplru *eps;
    size_t eps_cap;
};

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

fp__approx *fp__approx_new(void)
{
    fp__approx *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    ix->free_head = FP__NIL;
    return ix;
}

void fp__approx_free(fp__approx *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->eps_cap; i++)
        free(ix->eps[i].ring);
    free(ix->nodes);
    free(ix->hs);
    free(ix->eps);
    free(ix);
}

/* ------------------------------------------------------------- hash -> holders */

static size_t hs_pos(const fp__approx *ix, uint64_t h)
{
    size_t mask = ix->hs_cap - 1, i = mix(h) & mask;
    while (ix->hs[i].head != FP__NIL && ix->hs[i].h != h)
        i = (i + 1) & mask;
    return i;
}

static int hs_reserve(fp__approx *ix)
{
    if ((ix->hs_n + 1) * 2 <= ix->hs_cap)
        return 0;
    size_t ncap = ix->hs_cap ? ix->hs_cap * 2 : 1024;
    hslot *old = ix->hs, *t = malloc(ncap * sizeof *t);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < ncap; i++)
        t[i].head = FP__NIL;
    size_t ocap = ix->hs_cap;
    ix->hs = t;
    ix->hs_cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].head != FP__NIL)
            ix->hs[hs_pos(ix, old[i].h)] = old[i];
    free(old);
    return 0;
}

/* Backward-shift deletion keeps probe sequences intact without tombstones. */
static void hs_delete(fp__approx *ix, size_t i)
{
    size_t mask = ix->hs_cap - 1;
    for (size_t j = (i + 1) & mask; ix->hs[j].head != FP__NIL; j = (j + 1) & mask) {
        size_t home = mix(ix->hs[j].h) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            ix->hs[i] = ix->hs[j];
            i = j;
        }
    }
    ix->hs[i].head = FP__NIL;
    ix->hs_n--;
}

/* ------------------------------------------------------------- nodes */

static uint32_t node_alloc(fp__approx *ix)
{
    if (ix->free_head != FP__NIL) {
        uint32_t i = ix->free_head;
        ix->free_head = ix->nodes[i].hnext;
        return i;
    }
    if (ix->nodes_top == ix->nodes_cap) {
        size_t ncap = ix->nodes_cap ? ix->nodes_cap * 2 : 1024;
        anode *n = ncap < FP__NIL ? realloc(ix->nodes, ncap * sizeof *n) : NULL;
        if (!n)
            return FP__NIL;
        ix->nodes = n;
        ix->nodes_cap = ncap;
    }
    return (uint32_t)ix->nodes_top++;
}

/* Unlinks node i from its holders (dropping the hash when it was the last) and frees it. */
static void node_drop(fp__approx *ix, uint32_t i)
{
    anode *n = &ix->nodes[i];
    if (n->hprev != FP__NIL) {
        ix->nodes[n->hprev].hnext = n->hnext;
    } else {
        size_t s = hs_pos(ix, n->h);
        assert(ix->hs[s].head == i);
        if (n->hnext == FP__NIL)
            hs_delete(ix, s);
        else
            ix->hs[s].head = n->hnext;
    }
    if (n->hnext != FP__NIL)
        ix->nodes[n->hnext].hprev = n->hprev;
    ix->eps[n->ep].len--;
    n->ep = FP__NIL;
    n->hnext = ix->free_head;
    ix->free_head = i;
}

/* ------------------------------------------------------------- per-endpoint touch rings */

static bool live(const fp__approx *ix, uint32_t ep, touch t)
{
    const anode *n = &ix->nodes[t.node];
    return n->ep == ep && n->stamp == t.stamp;
}

/* Drops stale entries; keeps the order of live ones. */
static void ring_compact(fp__approx *ix, uint32_t ep)
{
    eplru *l = &ix->eps[ep];
    uint32_t mask = l->ring_cap - 1, k = 0;
    for (uint32_t j = 0; j < l->count; j++) {
        touch t = l->ring[(l->head + j) & mask];
        if (live(ix, ep, t))
            l->ring[(l->head + k++) & mask] = t;
    }
    l->count = k;
}

static int ring_push(fp__approx *ix, uint32_t ep, uint32_t node)
{
    eplru *l = &ix->eps[ep];
    if (l->count > 2 * (uint64_t)l->len + 64)
        ring_compact(ix, ep);
    if (l->count == l->ring_cap) {
        uint32_t ncap = l->ring_cap ? l->ring_cap * 2 : 64;
        touch *r = ncap > l->ring_cap ? malloc((size_t)ncap * sizeof *r) : NULL;
        if (!r)
            return -ENOMEM;
        for (uint32_t j = 0; j < l->count; j++)
            r[j] = l->ring[(l->head + j) & (l->ring_cap - 1)];
        free(l->ring);
        l->ring = r;
        l->ring_cap = ncap;
        l->head = 0;
    }
    uint32_t stamp = ++l->clock;
    ix->nodes[node].stamp = stamp;
    l->ring[(l->head + l->count++) & (l->ring_cap - 1)] = (touch){ node, stamp };
    return 0;
}

/* Evicts ep's least recently touched node. */
static void evict_oldest(fp__approx *ix, uint32_t ep)
{
    eplru *l = &ix->eps[ep];
    for (;;) {
        assert(l->count > 0);
        touch t = l->ring[l->head];
        l->head = (l->head + 1) & (l->ring_cap - 1);
        l->count--;
        if (live(ix, ep, t)) {
            node_drop(ix, t.node);
            return;
        }
    }
}

/* ------------------------------------------------------------- operations */

/*
 * Software pipelining over a prompt's hashes, which are all known up front: the table
 * slot of hash k+8 and the first holder of hash k+4 are fetched while hash k is
 * processed, so the misses of consecutive blocks overlap instead of queueing.
 */
enum { AHEAD_SLOT = 8, AHEAD_NODE = 4 };

static inline void prefetch_ahead(const fp__approx *ix, const uint64_t *h, size_t n, size_t k)
{
    size_t mask = ix->hs_cap - 1;
    if (k + AHEAD_SLOT < n)
        __builtin_prefetch(&ix->hs[mix(h[k + AHEAD_SLOT]) & mask]);
    if (k + AHEAD_NODE < n) {
        const hslot *s = &ix->hs[mix(h[k + AHEAD_NODE]) & mask];
        if (s->head != FP__NIL && s->h == h[k + AHEAD_NODE])
            __builtin_prefetch(&ix->nodes[s->head]);
    }
}

static int add_one(fp__approx *ix, uint64_t h, uint32_t ep)
{
    eplru *l = &ix->eps[ep];
    if (hs_reserve(ix))
        return -ENOMEM;
    size_t s = hs_pos(ix, h);
    uint32_t i = ix->hs[s].head;
    while (i != FP__NIL && ix->nodes[i].ep != ep)
        i = ix->nodes[i].hnext;
    if (i != FP__NIL)
        return ring_push(ix, ep, i);
    if ((i = node_alloc(ix)) == FP__NIL)
        return -ENOMEM;
    if (ring_push(ix, ep, i)) {
        ix->nodes[i] = (anode){ .ep = FP__NIL, .hnext = ix->free_head };
        ix->free_head = i;
        return -ENOMEM;
    }
    anode *n = &ix->nodes[i];
    n->h = h;
    n->ep = ep;
    n->hprev = FP__NIL;
    n->hnext = ix->hs[s].head;
    if (n->hnext != FP__NIL) {
        ix->nodes[n->hnext].hprev = i;
    } else {
        ix->hs[s].h = h;
        ix->hs_n++;
    }
    ix->hs[s].head = i;
    if (++l->len > l->cap)
        evict_oldest(ix, ep);
    return 0;
}

int fp__approx_add(fp__approx *ix, const uint64_t *h, size_t n, uint32_t ep, uint32_t capacity)
{
    assert(capacity > 0);
    if (fp__grow((void **)&ix->eps, &ix->eps_cap, (size_t)ep + 1, sizeof *ix->eps))
        return -ENOMEM;
    if (ix->eps[ep].cap == 0)
        ix->eps[ep].cap = capacity;
    for (size_t k = 0; k < n; k++) {
        if (ix->hs_cap)
            prefetch_ahead(ix, h, n, k);
        if (add_one(ix, h[k], ep))
            return -ENOMEM;
    }
    return 0;
}

size_t fp__approx_match(const fp__approx *ix, const uint64_t *h, size_t n, uint32_t *counts,
                        uint32_t *touched, size_t *ntouched)
{
    if (ix->hs_n == 0)
        return 0;
    size_t k = 0;
    for (; k < n; k++) {
        prefetch_ahead(ix, h, n, k);
        uint32_t i = ix->hs[hs_pos(ix, h[k])].head;
        if (i == FP__NIL)
            break;
        for (; i != FP__NIL; i = ix->nodes[i].hnext) {
            uint32_t ep = ix->nodes[i].ep;
            if (counts[ep]++ == 0)
                touched[(*ntouched)++] = ep;
        }
    }
    return k;
}

void fp__approx_remove_ep(fp__approx *ix, uint32_t ep)
{
    if (ep >= ix->eps_cap)
        return;
    eplru *l = &ix->eps[ep];
    while (l->len > 0)
        evict_oldest(ix, ep);
    free(l->ring);
    *l = (eplru){ 0 };
}

size_t fp__approx_len(const fp__approx *ix, uint32_t ep)
{
    return ep < ix->eps_cap ? ix->eps[ep].len : 0;
}

bool fp__approx_holds(const fp__approx *ix, uint64_t h, uint32_t ep)
{
    if (!ix->hs_cap)
        return false;
    uint32_t i = ix->hs[hs_pos(ix, h)].head;
    while (i != FP__NIL && ix->nodes[i].ep != ep)
        i = ix->nodes[i].hnext;
    return i != FP__NIL;
}
