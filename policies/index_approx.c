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
 * in a long simulation (64 endpoints x 31,250). Every operation is O(1) in the worst
 * case apart from walking a hash's holders: one 32-byte node per (hash, endpoint) in a
 * pool addressed by 32-bit index, on two intrusive doubly linked lists (the endpoint's
 * LRU and the hash's holders), and an open-addressing table (linear probing,
 * backward-shift deletion) from hash to its first holder. Finding (hash, endpoint)
 * walks the hash's holders: the greedy match already costs O(holders) per block, so
 * this keeps the same order and saves a second table. A prompt's hashes are known up
 * front, so table slots and nodes are prefetched a few blocks ahead, and so are the
 * next eviction victims.
 * Rejected: a lazily compacted ring of touches per endpoint instead of the LRU list
 * (fewer cache misses per touch, but compaction is an O(capacity) pause: a 5 ms pick
 * every few hundred picks at 31,250 blocks, which is what p99 measures); a (hash,
 * endpoint) -> node table (one more table of misses per insert and eviction); a holder
 * bitset per hash (O(endpoints/64) words per distinct hash).
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
#include "fu_mem.h"

typedef struct anode {
    uint64_t h;
    uint32_t ep;            /* FP__NIL when free */
    uint32_t hprev, hnext;  /* holders of h; hnext doubles as the free-list link */
    uint32_t lprev, lnext;  /* the endpoint's LRU: prev = more recent */
} anode;

typedef struct hslot {
    uint64_t h;
    uint32_t head;          /* first holder; FP__NIL = empty slot */
} hslot;

typedef struct eplru {
    uint32_t mru, lru;      /* most and least recently added node */
    uint32_t len, cap;      /* cap 0: endpoint never added */
} eplru;

/*
 * The node pool and the table are the big arrays of a fleet run (64 endpoints x 27,689
 * blocks: 57 MB of nodes and a 64 MB table), touched at random on every pick, so they
 * come from fu_big_calloc (transparent huge pages: fewer TLB misses and page faults).
 * The pool is sized up front to the sum of the endpoints' capacities, which bounds the
 * live nodes, so it never grows (by copying) during a run.
 */
struct fp__approx {
    anode *nodes;
    size_t nodes_cap, nodes_top;
    size_t sum_caps;        /* capacities of the endpoints added (live nodes <= this + 1) */
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
    fu_big_free(ix->nodes, ix->nodes_cap * sizeof *ix->nodes);
    fu_big_free(ix->hs, ix->hs_cap * sizeof *ix->hs);
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
    hslot *old = ix->hs, *t = fu_big_calloc(ncap * sizeof *t);
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
    fu_big_free(old, ocap * sizeof *old);
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

/* Grows the node pool to at least want nodes (copying). 0 or -ENOMEM. */
static int nodes_reserve(fp__approx *ix, size_t want)
{
    if (want <= ix->nodes_cap)
        return 0;
    if (want >= FP__NIL)
        return -ENOMEM;
    anode *n = fu_big_calloc(want * sizeof *n);
    if (!n)
        return -ENOMEM;
    if (ix->nodes_top)
        memcpy(n, ix->nodes, ix->nodes_top * sizeof *n);
    fu_big_free(ix->nodes, ix->nodes_cap * sizeof *ix->nodes);
    ix->nodes = n;
    ix->nodes_cap = want;
    return 0;
}

static uint32_t node_alloc(fp__approx *ix)
{
    if (ix->free_head != FP__NIL) {
        uint32_t i = ix->free_head;
        ix->free_head = ix->nodes[i].hnext;
        return i;
    }
    if (ix->nodes_top == ix->nodes_cap &&
        nodes_reserve(ix, ix->nodes_cap ? ix->nodes_cap * 2 : 1024))
        return FP__NIL;
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

/* ------------------------------------------------------------- per-endpoint LRU */

static void lru_unlink(fp__approx *ix, uint32_t i)
{
    anode *n = &ix->nodes[i];
    eplru *l = &ix->eps[n->ep];
    if (n->lprev != FP__NIL)
        ix->nodes[n->lprev].lnext = n->lnext;
    else
        l->mru = n->lnext;
    if (n->lnext != FP__NIL)
        ix->nodes[n->lnext].lprev = n->lprev;
    else
        l->lru = n->lprev;
}

static void lru_push_front(fp__approx *ix, uint32_t i)
{
    anode *n = &ix->nodes[i];
    eplru *l = &ix->eps[n->ep];
    n->lprev = FP__NIL;
    n->lnext = l->mru;
    if (l->mru != FP__NIL)
        ix->nodes[l->mru].lprev = i;
    else
        l->lru = i;
    l->mru = i;
}

/* Evicts ep's least recently added node, prefetching the next victims: a request's new
   blocks evict as many old ones, in LRU order. */
static void evict_oldest(fp__approx *ix, uint32_t ep)
{
    uint32_t i = ix->eps[ep].lru;
    const anode *n = &ix->nodes[i];
    if (n->lprev != FP__NIL) {
        const anode *next = &ix->nodes[n->lprev];
        __builtin_prefetch(&ix->hs[mix(next->h) & (ix->hs_cap - 1)]);
        if (next->lprev != FP__NIL)
            __builtin_prefetch(&ix->nodes[next->lprev]);
    }
    lru_unlink(ix, i);
    node_drop(ix, i);
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
    if (i != FP__NIL) {                     /* held: becomes the most recent */
        if (l->mru != i) {
            lru_unlink(ix, i);
            lru_push_front(ix, i);
        }
        return 0;
    }
    if ((i = node_alloc(ix)) == FP__NIL)
        return -ENOMEM;
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
    lru_push_front(ix, i);
    if (++l->len > l->cap)
        evict_oldest(ix, ep);
    return 0;
}

int fp__approx_add(fp__approx *ix, const uint64_t *h, size_t n, uint32_t ep, uint32_t capacity)
{
    assert(capacity > 0);
    size_t old = ix->eps_cap;
    if (fp__grow((void **)&ix->eps, &ix->eps_cap, (size_t)ep + 1, sizeof *ix->eps))
        return -ENOMEM;
    for (size_t k = old; k < ix->eps_cap; k++)
        ix->eps[k] = (eplru){ FP__NIL, FP__NIL, 0, 0 };
    if (ix->eps[ep].cap == 0) {
        /* A failed reservation is not an error here: node_alloc grows on demand. */
        nodes_reserve(ix, ix->sum_caps + capacity + 1);
        ix->eps[ep].cap = capacity;
        ix->sum_caps += capacity;
    }
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
    /* The learning step after the pick (fp__approx_add) probes the same slots, the
     * ones after the matched run included, so all of them (up to a bound) start
     * loading now rather than AHEAD_SLOT at a time: the add then finds them cached. */
    enum { ALL_SLOTS = 64 };
    for (size_t k = 0; k < n && k < ALL_SLOTS; k++)
        __builtin_prefetch(&ix->hs[mix(h[k]) & (ix->hs_cap - 1)]);
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
    while (ix->eps[ep].lru != FP__NIL)
        evict_oldest(ix, ep);
    ix->sum_caps -= ix->eps[ep].cap;
    ix->eps[ep].cap = 0;
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
