/*
 * index_precise.c: the precise prefix-cache index (llm-d-kv-cache's in-memory
 * kvblock.Index as used by precise-prefix-cache-producer/-scorer), fed by the engines'
 * KV events rather than by the router's guesses.
 *
 * Model: block key -> the endpoints holding that block, each with the set of tiers
 * (gpu, cpu) it holds it in. llm-d-kv-cache bounds it as a two-level LRU: at most
 * `size` keys (default 1e8; the least recently stored key goes first) and at most
 * `podCacheSize` endpoints per key (default 10; the least recently stored holder goes
 * first). BlockStored adds, BlockRemoved removes one tier (the entry goes when no tier
 * is left), AllBlocksCleared drops everything an endpoint held.
 * Score: the longest run of consecutive keys from the prompt's first block held by an
 * endpoint, each block weighted by its best tier (gpu 1.0, cpu 0.8).
 *
 * Workload: KV events at many times the request rate (every engine block stored or
 * freed), lookups once per pick over ~100-8,000 keys. Same structure as the
 * approximate index: pooled nodes with 32-bit indices on linked lists, open-addressing
 * tables with backward-shift deletion: key -> key entry, (key, endpoint) -> holder.
 * Per-endpoint lists make AllBlocksCleared O(blocks of that endpoint).
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fp_internal.h"

typedef struct kent {
    uint64_t key;
    uint32_t head, tail;      /* holders, oldest first */
    uint32_t nholders;
    uint32_t lprev, lnext;    /* key LRU: prev = more recent */
} kent;

typedef struct pnode {
    uint32_t k;               /* key entry */
    uint32_t ep;
    unsigned tiers;
    uint32_t prev, next;      /* holders of the key */
    uint32_t eprev, enext;    /* blocks of the endpoint */
} pnode;

typedef struct pool {
    void *a;
    size_t cap, top, size;
    size_t link;              /* offset of the uint32 member reused as free-list link */
    uint32_t free_head;
} pool;

struct fp__precise {
    size_t max_keys;
    uint32_t per_key;
    pool keys, nodes;
    uint32_t *kmap;           /* key -> kent */
    size_t kmap_cap, nkeys;
    uint32_t *pmap;           /* (key, ep) -> pnode */
    size_t pmap_cap, npairs;
    uint32_t mru, lru;        /* key LRU ends */
    uint32_t *ep_head;
    size_t ep_cap;
};

#define KE(ix, i) (((kent *)(ix)->keys.a)[i])
#define PN(ix, i) (((pnode *)(ix)->nodes.a)[i])

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static inline uint64_t pair_key(uint64_t k, uint32_t ep)
{
    return mix(k ^ ((uint64_t)ep + 1) * 0xD6E8FEB86659FD93ull);
}

/* Allocates an element from a pool (free list first). FP__NIL when out of memory. */
static uint32_t pool_get(pool *p)
{
    if (p->free_head != FP__NIL) {
        uint32_t i = p->free_head;
        memcpy(&p->free_head, (char *)p->a + i * p->size + p->link, sizeof(uint32_t));
        return i;
    }
    if (p->top == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 1024;
        void *a = ncap < FP__NIL ? realloc(p->a, ncap * p->size) : NULL;
        if (!a)
            return FP__NIL;
        p->a = a;
        p->cap = ncap;
    }
    return (uint32_t)p->top++;
}

static void pool_put(pool *p, uint32_t i)
{
    memcpy((char *)p->a + i * p->size + p->link, &p->free_head, sizeof(uint32_t));
    p->free_head = i;
}

fp__precise *fp__precise_new(size_t max_keys, uint32_t pods_per_key)
{
    assert(max_keys > 0 && pods_per_key > 0);
    fp__precise *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    ix->max_keys = max_keys;
    ix->per_key = pods_per_key;
    ix->keys = (pool){ NULL, 0, 0, sizeof(kent), offsetof(kent, head), FP__NIL };
    ix->nodes = (pool){ NULL, 0, 0, sizeof(pnode), offsetof(pnode, k), FP__NIL };
    ix->mru = ix->lru = FP__NIL;
    return ix;
}

void fp__precise_free(fp__precise *ix)
{
    if (!ix)
        return;
    free(ix->keys.a);
    free(ix->nodes.a);
    free(ix->kmap);
    free(ix->pmap);
    free(ix->ep_head);
    free(ix);
}

size_t fp__precise_nkeys(const fp__precise *ix) { return ix->nkeys; }

/* ------------------------------------------------------------- the two tables */

static size_t kmap_pos(const fp__precise *ix, uint64_t key)
{
    size_t mask = ix->kmap_cap - 1, i = mix(key) & mask;
    while (ix->kmap[i] != FP__NIL && KE(ix, ix->kmap[i]).key != key)
        i = (i + 1) & mask;
    return i;
}

static size_t pmap_pos(const fp__precise *ix, uint64_t key, uint32_t ep)
{
    size_t mask = ix->pmap_cap - 1, i = pair_key(key, ep) & mask;
    for (; ix->pmap[i] != FP__NIL; i = (i + 1) & mask) {
        const pnode *n = &PN(ix, ix->pmap[i]);
        if (n->ep == ep && KE(ix, n->k).key == key)
            break;
    }
    return i;
}

static uint64_t kmap_home(const fp__precise *ix, uint32_t v) { return mix(KE(ix, v).key); }
static uint64_t pmap_home(const fp__precise *ix, uint32_t v)
{
    return pair_key(KE(ix, PN(ix, v).k).key, PN(ix, v).ep);
}

static void tab_delete(fp__precise *ix, uint32_t *t, size_t cap, size_t i,
                       uint64_t (*home)(const fp__precise *, uint32_t))
{
    size_t mask = cap - 1;
    for (size_t j = (i + 1) & mask; t[j] != FP__NIL; j = (j + 1) & mask) {
        size_t h = home(ix, t[j]) & mask;
        if (((j - h) & mask) >= ((j - i) & mask)) {
            t[i] = t[j];
            i = j;
        }
    }
    t[i] = FP__NIL;
}

static int tab_grow(fp__precise *ix, uint32_t **t, size_t *cap,
                    uint64_t (*home)(const fp__precise *, uint32_t))
{
    size_t ncap = *cap ? *cap * 2 : 1024, ocap = *cap;
    uint32_t *old = *t, *nt = malloc(ncap * sizeof *nt);
    if (!nt)
        return -ENOMEM;
    memset(nt, 0xFF, ncap * sizeof *nt);
    for (size_t i = 0; i < ocap; i++) {
        if (old[i] == FP__NIL)
            continue;
        size_t j = home(ix, old[i]) & (ncap - 1);
        while (nt[j] != FP__NIL)
            j = (j + 1) & (ncap - 1);
        nt[j] = old[i];
    }
    free(old);
    *t = nt;
    *cap = ncap;
    return 0;
}

/* ------------------------------------------------------------- lists */

static void key_unlink(fp__precise *ix, uint32_t k)
{
    kent *e = &KE(ix, k);
    if (e->lprev != FP__NIL)
        KE(ix, e->lprev).lnext = e->lnext;
    else
        ix->mru = e->lnext;
    if (e->lnext != FP__NIL)
        KE(ix, e->lnext).lprev = e->lprev;
    else
        ix->lru = e->lprev;
}

static void key_front(fp__precise *ix, uint32_t k)
{
    kent *e = &KE(ix, k);
    e->lprev = FP__NIL;
    e->lnext = ix->mru;
    if (ix->mru != FP__NIL)
        KE(ix, ix->mru).lprev = k;
    else
        ix->lru = k;
    ix->mru = k;
}

static void drop_key(fp__precise *ix, uint32_t k)
{
    tab_delete(ix, ix->kmap, ix->kmap_cap, kmap_pos(ix, KE(ix, k).key), kmap_home);
    key_unlink(ix, k);
    pool_put(&ix->keys, k);
    ix->nkeys--;
}

/* Removes holder node i; the key goes too when it was its last holder, unless
   keep_key (the caller is about to add a holder to it). */
static void drop_node_keep(fp__precise *ix, uint32_t i, bool keep_key)
{
    pnode *n = &PN(ix, i);
    kent *e = &KE(ix, n->k);
    tab_delete(ix, ix->pmap, ix->pmap_cap, pmap_pos(ix, e->key, n->ep), pmap_home);
    ix->npairs--;
    if (n->prev != FP__NIL)
        PN(ix, n->prev).next = n->next;
    else
        e->head = n->next;
    if (n->next != FP__NIL)
        PN(ix, n->next).prev = n->prev;
    else
        e->tail = n->prev;
    if (n->eprev != FP__NIL)
        PN(ix, n->eprev).enext = n->enext;
    else
        ix->ep_head[n->ep] = n->enext;
    if (n->enext != FP__NIL)
        PN(ix, n->enext).eprev = n->eprev;
    uint32_t k = n->k;
    pool_put(&ix->nodes, i);
    if (--KE(ix, k).nholders == 0 && !keep_key)
        drop_key(ix, k);
}

static void drop_node(fp__precise *ix, uint32_t i) { drop_node_keep(ix, i, false); }

static void drop_key_all(fp__precise *ix, uint32_t k)
{
    while (KE(ix, k).nholders > 1)
        drop_node(ix, KE(ix, k).head);
    drop_node(ix, KE(ix, k).head);
}

/* ------------------------------------------------------------- store, remove */

static uint32_t key_get(fp__precise *ix, uint64_t key)
{
    size_t at = kmap_pos(ix, key);
    if (ix->kmap[at] != FP__NIL) {
        uint32_t k = ix->kmap[at];
        key_unlink(ix, k);
        key_front(ix, k);
        return k;
    }
    if (ix->nkeys >= ix->max_keys) {
        drop_key_all(ix, ix->lru);
        at = kmap_pos(ix, key);
    }
    uint32_t k = pool_get(&ix->keys);
    if (k == FP__NIL)
        return FP__NIL;
    KE(ix, k) = (kent){ key, FP__NIL, FP__NIL, 0, FP__NIL, FP__NIL };
    ix->kmap[at] = k;
    ix->nkeys++;
    key_front(ix, k);
    return k;
}

static int reserve(fp__precise *ix, uint32_t ep)
{
    if ((ix->nkeys + 1) * 2 > ix->kmap_cap && tab_grow(ix, &ix->kmap, &ix->kmap_cap, kmap_home))
        return -ENOMEM;
    if ((ix->npairs + 1) * 2 > ix->pmap_cap && tab_grow(ix, &ix->pmap, &ix->pmap_cap, pmap_home))
        return -ENOMEM;
    size_t old = ix->ep_cap;
    if (fp__grow((void **)&ix->ep_head, &ix->ep_cap, (size_t)ep + 1, sizeof *ix->ep_head))
        return -ENOMEM;
    for (size_t i = old; i < ix->ep_cap; i++)
        ix->ep_head[i] = FP__NIL;
    return 0;
}

static int store_one(fp__precise *ix, uint32_t ep, uint64_t key, unsigned bit)
{
    if (reserve(ix, ep))
        return -ENOMEM;
    uint32_t k = key_get(ix, key);
    if (k == FP__NIL)
        return -ENOMEM;
    size_t at = pmap_pos(ix, key, ep);
    uint32_t i = ix->pmap[at];
    if (i != FP__NIL) {             /* refresh: becomes the newest holder */
        PN(ix, i).tiers |= bit;
        if (KE(ix, k).tail == i)
            return 0;
        pnode *n = &PN(ix, i);
        if (n->prev != FP__NIL)
            PN(ix, n->prev).next = n->next;
        else
            KE(ix, k).head = n->next;
        PN(ix, n->next).prev = n->prev;
    } else {
        if (KE(ix, k).nholders >= ix->per_key) {
            drop_node_keep(ix, KE(ix, k).head, true);
            at = pmap_pos(ix, key, ep);
        }
        if ((i = pool_get(&ix->nodes)) == FP__NIL)
            return -ENOMEM;
        PN(ix, i) = (pnode){ k, ep, bit, FP__NIL, FP__NIL, FP__NIL, ix->ep_head[ep] };
        if (ix->ep_head[ep] != FP__NIL)
            PN(ix, ix->ep_head[ep]).eprev = i;
        ix->ep_head[ep] = i;
        ix->pmap[at] = i;
        ix->npairs++;
        KE(ix, k).nholders++;
    }
    pnode *n = &PN(ix, i);
    n->prev = KE(ix, k).tail;
    n->next = FP__NIL;
    if (n->prev != FP__NIL)
        PN(ix, n->prev).next = i;
    else
        KE(ix, k).head = i;
    KE(ix, k).tail = i;
    return 0;
}

int fp__precise_store(fp__precise *ix, uint32_t ep, const uint64_t *k, size_t n, unsigned tier)
{
    for (size_t i = 0; i < n; i++)
        if (store_one(ix, ep, k[i], 1u << tier))
            return -ENOMEM;
    return 0;
}

void fp__precise_remove(fp__precise *ix, uint32_t ep, const uint64_t *k, size_t n, unsigned tier)
{
    for (size_t j = 0; j < n && ix->pmap_cap; j++) {
        uint32_t i = ix->pmap[pmap_pos(ix, k[j], ep)];
        if (i == FP__NIL)
            continue;
        PN(ix, i).tiers &= ~(1u << tier);
        if (PN(ix, i).tiers == 0)
            drop_node(ix, i);
    }
}

void fp__precise_clear_ep(fp__precise *ix, uint32_t ep)
{
    while (ep < ix->ep_cap && ix->ep_head[ep] != FP__NIL)
        drop_node(ix, ix->ep_head[ep]);
}

unsigned fp__precise_tiers(const fp__precise *ix, uint64_t k, uint32_t ep)
{
    if (!ix->pmap_cap)
        return 0;
    uint32_t i = ix->pmap[pmap_pos(ix, k, ep)];
    return i == FP__NIL ? 0 : PN(ix, i).tiers;
}

/* ------------------------------------------------------------- scoring */

static double tier_weight(unsigned tiers)
{
    return (tiers & (1u << FP_TIER_GPU)) ? 1.0 : (tiers & (1u << FP_TIER_CPU)) ? 0.8 : 0.0;
}

void fp__precise_score(const fp__precise *ix, const uint64_t *k, size_t n,
                       void (*out)(void *ctx, uint32_t ep, double w), void *ctx)
{
    if (n == 0 || ix->nkeys == 0)
        return;
    size_t at = kmap_pos(ix, k[0]);
    if (ix->kmap[at] == FP__NIL)
        return;
    /* Live endpoints with their running weights: at most per_key of them. */
    uint32_t live[64], *lv = ix->per_key <= 64 ? live : malloc(ix->per_key * sizeof *lv);
    double wl[64], *w = ix->per_key <= 64 ? wl : malloc(ix->per_key * sizeof *w);
    size_t nl = 0;
    for (uint32_t i = (lv && w) ? KE(ix, ix->kmap[at]).head : FP__NIL; i != FP__NIL; i = PN(ix, i).next) {
        lv[nl] = PN(ix, i).ep;
        w[nl++] = tier_weight(PN(ix, i).tiers);
    }
    for (size_t b = 1; b < n && nl > 0; b++) {
        size_t keep = 0;
        for (size_t j = 0; j < nl; j++) {
            unsigned t = fp__precise_tiers(ix, k[b], lv[j]);
            if (t) {
                lv[keep] = lv[j];
                w[keep++] = w[j] + tier_weight(t);
            } else {
                out(ctx, lv[j], w[j]);
            }
        }
        nl = keep;
    }
    for (size_t j = 0; j < nl; j++)
        out(ctx, lv[j], w[j]);
    if (lv != live)
        free(lv);
    if (w != wl)
        free(w);
}
