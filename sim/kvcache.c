/*
 * kvcache.c: the paged KV block pool with prefix caching (see kvcache.h).
 *
 * Workload assumed: one pool per simulated replica, tens of thousands to millions of
 * blocks, touched every block_size tokens of every running sequence; everything is
 * O(1) per block and allocation-free after creation.
 *
 * The free queue is a ring of block ids in LRU order (the head is the least recently
 * freed block) with lazy removal. Each free block records the ring position of its
 * entry; an entry is live when its block is free and records that position, so a
 * block revived by a prefix hit (fs_kv_touch) leaves a stale entry behind without
 * touching the ring, and when it is freed again its new entry at the tail supersedes
 * the old one. Pops skip stale entries. When the ring fills with live and stale
 * entries it is compacted in place (ring_compact); a ring of at least 2 x num_blocks
 * entries therefore compacts at most once per num_blocks appends, and in a fleet run
 * (a full pool, popping as fast as it frees) hardly ever. The order of live entries
 * is exactly that of a doubly linked list with append at the tail, unlink anywhere
 * and pop at the head, so results are those of vLLM's FreeKVCacheBlockQueue.
 * Why: with 64 replicas the pools are far larger than the caches and the free queue
 * is a random permutation of the blocks, so the linked list this replaced cost a
 * dependent cache miss per pop (the next head is known only once the current one is
 * loaded, so prefetching one pop ahead hid little inside a prefill's burst of pops)
 * and two more per revival (both neighbours' links). The ring is read sequentially,
 * so the blocks of the next pops are prefetched several pops ahead, appends write it
 * sequentially, and a revival costs nothing beyond its block. Rejected: keeping the
 * list and caching a window of future heads (walking the list is serial, so the
 * window refills at one miss per pop anyway); tombstones written into the ring on
 * revival (one more miss per revival, at a random ring position).
 */
#include "kvcache.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fu_mem.h"
#include "fu_yaml.h"   /* fu_asprintf */

/* 16 bytes, four to a cache line. */
typedef struct kv_block {
    uint64_t hash;        /* valid when hashed */
    uint32_t ref : 31;
    uint32_t hashed : 1;
    uint32_t qpos;        /* position of its ring entry (unmasked, mod 2^32) while ref == 0 */
} kv_block;

#define REF_MAX 0x7fffffffu

/*
 * A slot of the hash index: 8 bytes, eight to a cache line. tag is the key's upper 32
 * bits (its lower bits pick the home slot); the full key is the one the block carries,
 * so the block validates every match (see "hash index" below). val is the block index
 * + 1, so 0 is an empty slot and a calloc'd table is empty without an initialising
 * pass.
 */
typedef struct kv_slot {
    uint32_t tag;
    int32_t val;
} kv_slot;

static uint32_t key_tag(uint64_t key) { return (uint32_t)(key >> 32); }

/*
 * The blocks, the index and the ring are one allocation (fu_big_calloc): for the
 * pools of a fleet run (1-2 MiB each) that is one huge page per replica, where three
 * arrays would each be too small for one.
 */
struct fs_kv {
    kv_block *b;        /* num_blocks entries, at the start of the allocation */
    size_t mem_len;     /* bytes allocated */
    int32_t n;          /* usable blocks */
    int32_t *ring;      /* the free queue: entries at positions qhead .. qtail - 1 */
    uint32_t qhead, qtail; /* positions, counted mod 2^32 (the ring is far smaller) */
    uint32_t qmask;     /* ring entries - 1 */
    int64_t nfree;
    int64_t ncached;
    fs_kv_hooks hooks;
    kv_slot *slots;     /* the hash index, mask + 1 slots */
    size_t mask;
    size_t nused;       /* occupied slots: live entries + stale ones */
    size_t max_used;    /* rebuild once nused exceeds this (1/2 of the slots) */
};

/* ---------------------------------------------------------------- hash index */

/*
 * Deletion is lazy. Popping a block does not touch the index: its entry stays behind,
 * stale, and is recognised as such because the block it names no longer carries a key
 * with the slot's tag and position (it is unhashed, or hashed under another key).
 * Registering a key reuses a stale entry with its tag met on the probe, so the
 * occupied slots grow only with new keys; when live plus stale entries pass half the
 * slots, the index is rebuilt from the hashed blocks (index_rebuild). Why: with 64
 * replicas the eager delete (Knuth's algorithm R on every eviction) cost a cache miss
 * or more per popped block, the largest single cost of a fleet run; a lookup that
 * validates its hit reads the block, which a hit then touches anyway. The rebuild
 * costs one sequential pass over the blocks and one (prefetched) insert per live
 * entry, at least 1/4 of the slots (num_blocks) registrations apart. Rejected:
 * tombstones (the same miss per eviction to write them).
 *
 * Slots hold a 32-bit tag, not the key: with the index at 4 x num_blocks slots of 8
 * bytes (the same megabyte per replica as 2 x num_blocks slots of 16), probes are
 * shorter and far less often run into the next cache line, which in a fleet run is a
 * second miss per registration. The price is that a slot no longer proves which key
 * it was made for: a lookup only trusts a tag match whose block carries the full key
 * (and goes on probing otherwise), and a registration probes to the end of the run
 * (where an unknown key's probe ends anyway) to be sure the key is not live further
 * on; a same-tag slot is reused only when its block is unhashed or carries another
 * tag, so a live entry is never overwritten. Two keys share a tag with probability
 * 2^-32, which costs a block load, never a wrong answer.
 */

/* The block that slot i names when it is a live entry for key, else -1. */
static int32_t slot_live(const fs_kv *kv, size_t i, uint64_t key)
{
    int32_t v = kv->slots[i].val - 1;
    if (v < 0 || kv->slots[i].tag != key_tag(key))
        return -1;
    const kv_block *blk = &kv->b[v];
    return blk->hashed && blk->hash == key ? v : -1;
}

/* True when slot i (occupied) may be its block's live entry: the block carries a key
 * with the slot's tag. Otherwise the slot is certainly stale. */
static bool slot_maybe_live(const fs_kv *kv, size_t i)
{
    const kv_block *blk = &kv->b[kv->slots[i].val - 1];
    return blk->hashed && key_tag(blk->hash) == kv->slots[i].tag;
}

int32_t fs_kv_find(const fs_kv *kv, uint64_t hash)
{
    for (size_t i = (size_t)hash & kv->mask; kv->slots[i].val != 0; i = (i + 1) & kv->mask) {
        int32_t v = slot_live(kv, i, hash);
        if (v >= 0)
            return v;
    }
    return -1;
}

/* Starts loading the block that the home slot of h names, when its tag matches (the
   slot itself must be on its way: reading it waits for it). */
static inline void block_prefetch(const fs_kv *kv, uint64_t h)
{
    const kv_slot *s = &kv->slots[(size_t)h & kv->mask];
    if (s->val != 0 && s->tag == key_tag(h))
        __builtin_prefetch(&kv->b[s->val - 1]);
}

size_t fs_kv_find_run(const fs_kv *kv, const uint64_t *hashes, size_t n, int32_t *out)
{
    enum { SLOT_AHEAD = 16, BLOCK_AHEAD = 8 };
    for (size_t i = 0; i < n && i < SLOT_AHEAD; i++)
        __builtin_prefetch(&kv->slots[(size_t)hashes[i] & kv->mask]);
    /* the first blocks, whose slots are read together here rather than one miss each
       when the loop below gets to them */
    for (size_t i = 0; i < n && i < BLOCK_AHEAD; i++)
        block_prefetch(kv, hashes[i]);
    size_t k = 0;
    for (; k < n; k++) {
        if (k + SLOT_AHEAD < n)
            __builtin_prefetch(&kv->slots[(size_t)hashes[k + SLOT_AHEAD] & kv->mask]);
        if (k + BLOCK_AHEAD < n)   /* the home slot has likely arrived by now */
            block_prefetch(kv, hashes[k + BLOCK_AHEAD]);
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
        size_t s = (size_t)kv->b[i].hash & kv->mask;
        while (kv->slots[s].val != 0)   /* keys are distinct: no need to compare */
            s = (s + 1) & kv->mask;
        kv->slots[s] = (kv_slot){ key_tag(kv->b[i].hash), i + 1 };
        kv->nused++;
    }
}

/* ---------------------------------------------------------------- free queue */

/*
 * Positions run mod 2^32 and the window qhead .. qtail is at most the ring's size, so
 * the positions inside it are distinct and a free block's recorded position names its
 * one live entry.
 */
static bool entry_live(const fs_kv *kv, uint32_t pos)
{
    const kv_block *blk = &kv->b[kv->ring[pos & kv->qmask]];
    return blk->ref == 0 && blk->qpos == pos;
}

/* Starts loading the block of the entry at pos (any entry names a valid block). */
static void entry_prefetch(const fs_kv *kv, uint32_t pos)
{
    __builtin_prefetch(&kv->b[kv->ring[pos & kv->qmask]], 1);
}

/*
 * Rewrites the live entries contiguously from the head, in order, and renumbers their
 * blocks' positions: O(ring), reading blocks a few entries ahead. Called when the ring
 * is full, which then holds at least ring - num_blocks stale entries to reclaim.
 * Writing position w <= the position being read never overwrites an unread entry.
 */
static void ring_compact(fs_kv *kv)
{
    enum { AHEAD = 16 };
    uint32_t w = kv->qhead;
    for (uint32_t p = kv->qhead; p != kv->qtail; p++) {
        if (kv->qtail - p > AHEAD)
            entry_prefetch(kv, p + AHEAD);
        if (!entry_live(kv, p))
            continue;
        int32_t id = kv->ring[p & kv->qmask];
        kv->ring[w & kv->qmask] = id;
        kv->b[id].qpos = w++;
    }
    kv->qtail = w;
}

/* Block i (ref 0) joins the tail of the free queue. */
static void queue_append(fs_kv *kv, int32_t i)
{
    if (kv->qtail - kv->qhead > kv->qmask)
        ring_compact(kv);
    kv->ring[kv->qtail & kv->qmask] = i;
    kv->b[i].qpos = kv->qtail++;
    kv->nfree++;
}

/*
 * Removes and returns the head of the (non-empty) free queue. Blocks are popped in
 * bursts (a prefill takes dozens, and every pop writes its block), so the block of
 * the entry this far ahead starts loading now.
 */
static int32_t queue_pop(fs_kv *kv)
{
    enum { AHEAD = 12 };
    while (!entry_live(kv, kv->qhead))
        kv->qhead++;
    int32_t id = kv->ring[kv->qhead++ & kv->qmask];
    entry_prefetch(kv, kv->qhead + AHEAD);
    kv->nfree--;
    return id;
}

/* ---------------------------------------------------------------- life cycle */

/* The smallest power of two >= k x num_blocks (and >= 16): 2 for the ring, 4 for the
 * index. */
static size_t capacity(int64_t num_blocks, size_t k)
{
    size_t cap = 16;
    while (cap < k * (size_t)num_blocks)
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
    size_t cap = capacity(num_blocks, 4), qcap = capacity(num_blocks, 2);
    /* One zeroed piece (a zeroed ring names block 0 everywhere, a valid id): blocks,
     * index, ring, each on cache-line boundaries. */
    size_t at_slots = ((size_t)num_blocks * sizeof *kv->b + 63) / 64 * 64;
    size_t at_ring = at_slots + cap * sizeof *kv->slots;
    kv->mem_len = at_ring + qcap * sizeof *kv->ring;
    char *mem = fu_big_calloc(kv->mem_len);
    if (!mem) {
        free(kv);
        return -ENOMEM;
    }
    kv->b = (kv_block *)mem;
    kv->slots = (kv_slot *)(mem + at_slots);
    kv->ring = (int32_t *)(mem + at_ring);
    kv->mask = cap - 1;
    kv->max_used = cap / 2;
    kv->n = (int32_t)num_blocks;
    kv->qmask = (uint32_t)(qcap - 1);
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
    fu_big_free(kv->b, kv->mem_len);
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
    for (uint32_t p = kv->qhead; p != kv->qtail && k < n; p++)
        if (entry_live(kv, p))
            out[k++] = kv->ring[p & kv->qmask];
    return k;
}

/* ---------------------------------------------------------------- operations */

void fs_kv_touch(fs_kv *kv, int32_t b)
{
    assert(b >= 0 && b < kv->n && kv->b[b].ref < REF_MAX);
    if (kv->b[b].ref++ == 0)
        kv->nfree--;   /* its ring entry goes stale (see the top of this file) */
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
 * blocks). Huge pages (fu_big_calloc) once brought nothing here because each of a
 * pool's arrays was smaller than one, unaligned; as one 2 MiB-aligned piece they do:
 * 10 % off a 64-replica run, mostly TLB misses and page faults.
 */
static void index_prefetch(const fs_kv *kv, uint64_t hash)
{
    __builtin_prefetch(&kv->slots[(size_t)hash & kv->mask]);
}

int32_t fs_kv_pop(fs_kv *kv)
{
    assert(kv->nfree > 0);
    int32_t b = queue_pop(kv);
    drop_hash(kv, b);
    kv->b[b].ref = 1;
    return b;
}

void fs_kv_release(fs_kv *kv, const int32_t *blocks, size_t n)
{
    /* A finished request's blocks are scattered over the pool: load them this far
     * ahead of their decrement, so that their misses overlap. */
    enum { AHEAD = 16 };
    for (size_t i = n; i-- > 0 && i + AHEAD >= n;)
        __builtin_prefetch(&kv->b[blocks[i]], 1);
    while (n-- > 0) {
        if (n >= AHEAD)
            __builtin_prefetch(&kv->b[blocks[n - AHEAD]], 1);
        int32_t b = blocks[n];
        assert(b >= 0 && b < kv->n && kv->b[b].ref > 0);
        if (--kv->b[b].ref == 0)
            queue_append(kv, b);
    }
}

bool fs_kv_cache(fs_kv *kv, int32_t b, uint64_t hash)
{
    assert(b >= 0 && b < kv->n && kv->b[b].ref > 0 && !kv->b[b].hashed);
    uint32_t tag = key_tag(hash);
    size_t i = (size_t)hash & kv->mask, reuse = SIZE_MAX;
    for (; kv->slots[i].val != 0; i = (i + 1) & kv->mask) {
        if (kv->slots[i].tag != tag)
            continue;
        if (slot_live(kv, i, hash) >= 0)
            return false;
        if (reuse == SIZE_MAX && !slot_maybe_live(kv, i))
            reuse = i;   /* a stale entry with this tag (most likely this key's own) */
    }
    if (reuse != SIZE_MAX) {
        kv->slots[reuse].val = b + 1;
    } else {
        kv->slots[i] = (kv_slot){ tag, b + 1 };
        kv->nused++;
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

void fs_kv_prefetch_index(const fs_kv *kv, const uint64_t *hashes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        index_prefetch(kv, hashes[i]);
}

void fs_kv_prefetch_block(const fs_kv *kv, int32_t b)
{
    assert(b >= 0 && b < kv->n);
    __builtin_prefetch(&kv->b[b], 1);
}

void fs_kv_prefetch_pops(const fs_kv *kv, size_t n)
{
    enum { MAX = 32 };
    for (uint32_t k = 0; k < n && k < MAX; k++)
        entry_prefetch(kv, kv->qhead + k);
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

/*
 * The free queue: the window fits the ring, its live entries are exactly the ref-0
 * blocks (each has one, at its recorded position inside the window), as many as nfree.
 */
static int check_queue(const fs_kv *kv, char **err)
{
    const kv_block *b = kv->b;
    uint32_t window = kv->qtail - kv->qhead;
    if (window > kv->qmask + 1)
        return fail(err, fu_asprintf("free queue: %u entries in a ring of %u", window,
                                     kv->qmask + 1));
    int64_t len = 0, zero = 0;
    for (uint32_t p = kv->qhead; p != kv->qtail; p++) {
        int32_t i = kv->ring[p & kv->qmask];
        if (i < 0 || i >= kv->n)
            return fail(err, fu_asprintf("free queue: entry %u names block %d", p, (int)i));
        len += entry_live(kv, p);
    }
    for (int32_t i = 0; i < kv->n; i++) {
        if (b[i].ref != 0)
            continue;
        zero++;
        if (b[i].qpos - kv->qhead >= window || kv->ring[b[i].qpos & kv->qmask] != i)
            return fail(err, fu_asprintf("free queue: free block %d has no entry (position %u)",
                                         (int)i, b[i].qpos));
    }
    if (len != kv->nfree || zero != kv->nfree)
        return fail(err, fu_asprintf("free queue: length %lld, ref-0 blocks %lld, "
                                     "free count %lld", (long long)len, (long long)zero,
                                     (long long)kv->nfree));
    return 0;
}

/* True when slot s lies on the probe run from key's home slot (no empty slot before). */
static bool on_probe_run(const fs_kv *kv, uint64_t key, size_t s)
{
    for (size_t i = (size_t)key & kv->mask; i != s; i = (i + 1) & kv->mask)
        if (kv->slots[i].val == 0)
            return false;
    return true;
}

/*
 * The index: every slot names a block, each hashed block is found under its hash, and
 * every slot that may be live (its block carries a key with its tag) lies on that
 * key's probe run; counts agree. Stale entries are allowed and count towards the
 * occupied slots.
 */
static int check_index(const fs_kv *kv, char **err)
{
    int64_t hashed = 0;
    size_t used = 0;
    for (size_t s = 0; s <= kv->mask; s++) {
        int32_t v = kv->slots[s].val - 1;
        if (v < 0)
            continue;
        used++;
        if (v >= kv->n)
            return fail(err, fu_asprintf("index: slot %zu names block %d", s, (int)v));
        if (slot_maybe_live(kv, s) && !on_probe_run(kv, kv->b[v].hash, s))
            return fail(err, fu_asprintf("index: slot %zu (block %d) is off its key's probe "
                                         "run", s, (int)v));
    }
    for (int32_t i = 0; i < kv->n; i++) {
        if (!kv->b[i].hashed)
            continue;
        hashed++;
        if (fs_kv_find(kv, kv->b[i].hash) != i)
            return fail(err, fu_asprintf("index: hashed block %d is not found", (int)i));
    }
    if (hashed != kv->ncached || used != kv->nused || used > kv->max_used)
        return fail(err, fu_asprintf("index: %lld hashed blocks, cached count %lld, %zu slots "
                                     "used (recorded %zu, rebuild past %zu)",
                                     (long long)hashed, (long long)kv->ncached, used, kv->nused,
                                     kv->max_used));
    return 0;
}

int fs_kv_check(const fs_kv *kv, char **err)
{
    int rc = check_queue(kv, err);
    return rc ? rc : check_index(kv, err);
}
