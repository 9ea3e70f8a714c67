/*
 * kvcache.c: the paged KV block pool with prefix caching (see kvcache.h).
 *
 * Workload assumed: one pool per simulated replica, tens of thousands to millions of
 * blocks, touched every block_size tokens of every running sequence; everything is
 * O(1) per block and allocation-free after creation.
 *
 * The free queue is circular with a sentinel at index num_blocks, so linking and
 * unlinking have no special cases for the ends. Block links are 32-bit indices
 * rather than pointers: half the size, and the arrays stay valid if ever copied.
 */
#include "kvcache.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fu_yaml.h"   /* fu_asprintf */

typedef struct kv_block {
    uint64_t hash;      /* valid when hashed */
    int32_t prev, next; /* free-queue links (only meaningful while ref == 0) */
    uint32_t ref;
    uint32_t hashed;
} kv_block;

/*
 * A slot of the hash index; key and value share a cache line (one miss per probe).
 * val is the block index + 1, so 0 is an empty slot and a calloc'd table is empty
 * without an initialising pass (its pages are only faulted in when first used).
 */
typedef struct kv_slot {
    uint64_t key;
    int32_t val;
} kv_slot;

struct fs_kv {
    kv_block *b;        /* num_blocks + 1 entries; the last is the queue's sentinel */
    int32_t n;          /* usable blocks = index of the sentinel */
    int64_t nfree;
    int64_t ncached;
    fs_kv_hooks hooks;
    kv_slot *slots;     /* the hash index, mask + 1 slots */
    size_t mask;
    size_t nused;       /* occupied slots: live entries + stale ones */
    size_t max_used;    /* rebuild once nused exceeds this (3/4 of the slots) */
};

/* ---------------------------------------------------------------- hash index */

/*
 * Deletion is lazy. Popping a block does not touch the index: its entry stays behind,
 * stale, and is recognised as such on lookup because the block it names no longer
 * carries that hash (it is unhashed, or hashed under another key). Registering a key
 * overwrites the key's stale entry in place, so the index still holds at most one
 * entry per key and a probe may stop at the first slot with that key. When live plus
 * stale entries pass 3/4 of the slots, the index is rebuilt from the hashed blocks
 * (index_rebuild). Why: with an index of ~1 MiB per replica and 64 replicas, the
 * eager delete (Knuth's algorithm R on every eviction) cost a cache miss or more per
 * popped block, the largest single cost of a fleet run; a lookup that validates its
 * hit reads the block, which a hit then touches anyway. The rebuild costs one
 * sequential pass over the blocks and one (prefetched) insert per live entry, at
 * least (3/4 - 1/2) x slots registrations apart. Rejected: tombstones (the same miss
 * per eviction to write them).
 */

/* The slot holding hash, or the empty slot where it would go. */
static size_t index_slot(const fs_kv *kv, uint64_t hash)
{
    size_t i = (size_t)hash & kv->mask;
    while (kv->slots[i].val != 0 && kv->slots[i].key != hash)
        i = (i + 1) & kv->mask;
    return i;
}

/* The block slot i names when the entry is live (the block carries its key), else -1. */
static int32_t slot_live(const fs_kv *kv, size_t i)
{
    int32_t v = kv->slots[i].val - 1;
    if (v < 0)
        return -1;
    const kv_block *blk = &kv->b[v];
    return blk->hashed && blk->hash == kv->slots[i].key ? v : -1;
}

int32_t fs_kv_find(const fs_kv *kv, uint64_t hash)
{
    return slot_live(kv, index_slot(kv, hash));
}

size_t fs_kv_find_run(const fs_kv *kv, const uint64_t *hashes, size_t n, int32_t *out)
{
    enum { SLOT_AHEAD = 8, BLOCK_AHEAD = 4 };
    for (size_t i = 0; i < n && i < SLOT_AHEAD; i++)
        __builtin_prefetch(&kv->slots[(size_t)hashes[i] & kv->mask]);
    size_t k = 0;
    for (; k < n; k++) {
        if (k + SLOT_AHEAD < n)
            __builtin_prefetch(&kv->slots[(size_t)hashes[k + SLOT_AHEAD] & kv->mask]);
        if (k + BLOCK_AHEAD < n) {   /* the home slot has likely arrived by now */
            const kv_slot *s = &kv->slots[(size_t)hashes[k + BLOCK_AHEAD] & kv->mask];
            if (s->val != 0)
                __builtin_prefetch(&kv->b[s->val - 1]);
        }
        int32_t b = fs_kv_find(kv, hashes[k]);
        if (b < 0)
            break;
        out[k] = b;
    }
    return k;
}

/* Empties the index and re-enters every hashed block, prefetching slots a few ahead. */
static void index_rebuild(fs_kv *kv)
{
    enum { AHEAD = 8 };
    memset(kv->slots, 0, (kv->mask + 1) * sizeof *kv->slots);
    kv->nused = 0;
    for (int32_t i = 0; i < kv->n; i++) {
        if (i + AHEAD < kv->n && kv->b[i + AHEAD].hashed)
            __builtin_prefetch(&kv->slots[(size_t)kv->b[i + AHEAD].hash & kv->mask], 1);
        if (!kv->b[i].hashed)
            continue;
        size_t s = index_slot(kv, kv->b[i].hash);
        assert(kv->slots[s].val == 0);
        kv->slots[s] = (kv_slot){ kv->b[i].hash, i + 1 };
        kv->nused++;
    }
}

/* ---------------------------------------------------------------- free queue */

static void queue_unlink(fs_kv *kv, int32_t i)
{
    kv_block *b = kv->b;
    b[b[i].prev].next = b[i].next;
    b[b[i].next].prev = b[i].prev;
    kv->nfree--;
}

static void queue_append(fs_kv *kv, int32_t i)
{
    kv_block *b = kv->b;
    int32_t s = kv->n, last = b[s].prev;
    b[i].prev = last;
    b[i].next = s;
    b[last].next = i;
    b[s].prev = i;
    kv->nfree++;
}

/* ---------------------------------------------------------------- life cycle */

static size_t index_capacity(int64_t num_blocks)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)num_blocks)
        cap <<= 1;
    return cap;
}

int fs_kv_new(int64_t num_blocks, const fs_kv_hooks *hooks, fs_kv **out)
{
    *out = NULL;
    if (num_blocks < 1 || num_blocks >= INT32_MAX)
        return -EINVAL;
    fs_kv *kv = calloc(1, sizeof *kv);
    if (!kv)
        return -ENOMEM;
    size_t cap = index_capacity(num_blocks);
    kv->b = calloc((size_t)num_blocks + 1, sizeof *kv->b);
    kv->slots = calloc(cap, sizeof *kv->slots);
    if (!kv->b || !kv->slots) {
        fs_kv_free(kv);
        return -ENOMEM;
    }
    kv->mask = cap - 1;
    kv->max_used = cap / 4 * 3;
    kv->n = (int32_t)num_blocks;
    kv->b[kv->n].prev = kv->b[kv->n].next = kv->n;
    for (int32_t i = 0; i < kv->n; i++)
        queue_append(kv, i);
    if (hooks)
        kv->hooks = *hooks;
    *out = kv;
    return 0;
}

void fs_kv_free(fs_kv *kv)
{
    if (!kv)
        return;
    free(kv->b);
    free(kv->slots);
    free(kv);
}

/* ---------------------------------------------------------------- queries */

int64_t fs_kv_total(const fs_kv *kv) { return kv->n; }
int64_t fs_kv_num_free(const fs_kv *kv) { return kv->nfree; }
int64_t fs_kv_num_cached(const fs_kv *kv) { return kv->ncached; }

double fs_kv_usage(const fs_kv *kv)
{
    return 1.0 - (double)kv->nfree / (double)kv->n;
}

uint32_t fs_kv_ref(const fs_kv *kv, int32_t b)
{
    assert(b >= 0 && b < kv->n);
    return kv->b[b].ref;
}

bool fs_kv_block_hash(const fs_kv *kv, int32_t b, uint64_t *hash)
{
    assert(b >= 0 && b < kv->n);
    if (kv->b[b].hashed && hash)
        *hash = kv->b[b].hash;
    return kv->b[b].hashed != 0;
}

size_t fs_kv_free_order(const fs_kv *kv, int32_t *out, size_t n)
{
    size_t k = 0;
    for (int32_t i = kv->b[kv->n].next; i != kv->n && k < n; i = kv->b[i].next)
        out[k++] = i;
    return k;
}

/* ---------------------------------------------------------------- operations */

void fs_kv_touch(fs_kv *kv, int32_t b)
{
    assert(b >= 0 && b < kv->n);
    if (kv->b[b].ref++ == 0)
        queue_unlink(kv, b);
}

/* Drops the hash block b carries, if any: its index entry goes stale. */
static void drop_hash(fs_kv *kv, int32_t b)
{
    kv_block *blk = &kv->b[b];
    if (!blk->hashed)
        return;
    blk->hashed = 0;
    kv->ncached--;
    if (kv->hooks.removed)
        kv->hooks.removed(kv->hooks.ctx, blk->hash);
}

/*
 * Starts loading the index slot of hash. Once the pool outgrows the caches, every
 * probe of a block's life (store, lookup) misses; issuing the load a few operations
 * ahead overlaps it with the previous operations' misses. Measured: a few percent at
 * 20,000 blocks. Larger pools stay memory-bound (about half the speed at 400,000
 * blocks). Tried and dropped: 2 MiB transparent huge pages for the big arrays (no gain
 * here).
 */
static void index_prefetch(const fs_kv *kv, uint64_t hash)
{
    __builtin_prefetch(&kv->slots[(size_t)hash & kv->mask]);
}

int32_t fs_kv_pop(fs_kv *kv)
{
    assert(kv->nfree > 0);
    int32_t b = kv->b[kv->n].next;
    queue_unlink(kv, b);
    drop_hash(kv, b);
    kv->b[b].ref = 1;
    /* The new head is in cache (its prev was just written); the next pop unlinks it
     * and writes its successor, so start loading that one now. */
    __builtin_prefetch(&kv->b[kv->b[kv->b[kv->n].next].next], 1);
    return b;
}

void fs_kv_release(fs_kv *kv, const int32_t *blocks, size_t n)
{
    while (n-- > 0) {
        int32_t b = blocks[n];
        assert(b >= 0 && b < kv->n && kv->b[b].ref > 0);
        if (--kv->b[b].ref == 0)
            queue_append(kv, b);
    }
}

bool fs_kv_cache(fs_kv *kv, int32_t b, uint64_t hash)
{
    assert(b >= 0 && b < kv->n && kv->b[b].ref > 0 && !kv->b[b].hashed);
    size_t slot = index_slot(kv, hash);
    if (kv->slots[slot].val == 0) {
        kv->slots[slot] = (kv_slot){ hash, b + 1 };
        kv->nused++;
    } else if (slot_live(kv, slot) >= 0) {
        return false;
    } else {
        kv->slots[slot].val = b + 1;   /* the key's stale entry, reused in place */
    }
    kv->b[b].hash = hash;
    kv->b[b].hashed = 1;
    kv->ncached++;
    if (kv->hooks.stored)
        kv->hooks.stored(kv->hooks.ctx, hash);
    if (kv->nused > kv->max_used)
        index_rebuild(kv);
    return true;
}

void fs_kv_cache_run(fs_kv *kv, const int32_t *blocks, const uint64_t *hashes, size_t n)
{
    enum { AHEAD = 4 };
    for (size_t i = 0; i < n && i < AHEAD; i++)
        index_prefetch(kv, hashes[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + AHEAD < n)
            index_prefetch(kv, hashes[i + AHEAD]);
        fs_kv_cache(kv, blocks[i], hashes[i]);
    }
}

/* ---------------------------------------------------------------- invariants */

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* The free queue: well linked, only ref-0 blocks, each once, as long as nfree. */
static int check_queue(const fs_kv *kv, char **err)
{
    const kv_block *b = kv->b;
    int64_t len = 0, zero = 0;
    for (int32_t i = 0; i < kv->n; i++)
        zero += b[i].ref == 0;
    for (int32_t i = b[kv->n].next, p = kv->n; i != kv->n; p = i, i = b[i].next) {
        if (i < 0 || i > kv->n || b[i].prev != p)
            return fail(err, fu_asprintf("free queue: bad link at block %d", (int)i));
        if (b[i].ref != 0)
            return fail(err, fu_asprintf("free queue: block %d has ref %u", (int)i, b[i].ref));
        if (++len > kv->n)
            return fail(err, fu_asprintf("free queue: cycle"));
    }
    if (len != kv->nfree || zero != kv->nfree)
        return fail(err, fu_asprintf("free queue: length %lld, ref-0 blocks %lld, "
                                     "free count %lld", (long long)len, (long long)zero,
                                     (long long)kv->nfree));
    return 0;
}

/*
 * The index: live entries match their blocks and each key occurs once, every hashed
 * block is found, counts agree. Stale entries (naming a block that no longer carries
 * the key) are allowed; they count towards the occupied slots.
 */
static int check_index(const fs_kv *kv, char **err)
{
    int64_t live = 0, hashed = 0;
    size_t used = 0;
    for (size_t s = 0; s <= kv->mask; s++) {
        int32_t v = kv->slots[s].val - 1;
        if (v < 0)
            continue;
        used++;
        if (v >= kv->n || index_slot(kv, kv->slots[s].key) != s)
            return fail(err, fu_asprintf("index: slot %zu names block %d, or its key is "
                                         "not found there first", s, (int)v));
        live += slot_live(kv, s) >= 0;
    }
    for (int32_t i = 0; i < kv->n; i++) {
        if (!kv->b[i].hashed)
            continue;
        hashed++;
        if (fs_kv_find(kv, kv->b[i].hash) != i)
            return fail(err, fu_asprintf("index: hashed block %d is not found", (int)i));
    }
    if (live != hashed || hashed != kv->ncached || used != kv->nused)
        return fail(err, fu_asprintf("index: %lld live entries, %lld hashed blocks, "
                                     "cached count %lld, %zu slots used (recorded %zu)",
                                     (long long)live, (long long)hashed,
                                     (long long)kv->ncached, used, kv->nused));
    return 0;
}

int fs_kv_check(const fs_kv *kv, char **err)
{
    int rc = check_queue(kv, err);
    return rc ? rc : check_index(kv, err);
}
