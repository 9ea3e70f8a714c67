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

/* A slot of the hash index; key and value share a cache line (one miss per probe). */
typedef struct kv_slot {
    uint64_t key;
    int32_t val;        /* block index, -1 = empty */
} kv_slot;

struct fs_kv {
    kv_block *b;        /* num_blocks + 1 entries; the last is the queue's sentinel */
    int32_t n;          /* usable blocks = index of the sentinel */
    int64_t nfree;
    int64_t ncached;
    fs_kv_hooks hooks;
    kv_slot *slots;     /* the hash index, mask + 1 slots */
    size_t mask;
};

/* ---------------------------------------------------------------- hash index */

static size_t index_slot(const fs_kv *kv, uint64_t hash)
{
    size_t i = (size_t)hash & kv->mask;
    while (kv->slots[i].val >= 0 && kv->slots[i].key != hash)
        i = (i + 1) & kv->mask;
    return i;
}

int32_t fs_kv_find(const fs_kv *kv, uint64_t hash)
{
    return kv->slots[index_slot(kv, hash)].val;
}

/*
 * Removes the entry in slot i and shifts later entries of the cluster back into the
 * hole when their home bucket allows it (Knuth's algorithm R), so no tombstones.
 */
static void index_delete(fs_kv *kv, size_t i)
{
    kv_slot *s = kv->slots;
    size_t j = i;
    for (;;) {
        s[i].val = -1;
        for (;;) {
            j = (j + 1) & kv->mask;
            if (s[j].val < 0)
                return;
            size_t home = (size_t)s[j].key & kv->mask;
            /* keep j where it is if its home lies cyclically in (i, j] */
            if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
                continue;
            break;
        }
        s[i] = s[j];
        i = j;
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
    kv->slots = malloc(cap * sizeof *kv->slots);
    if (!kv->b || !kv->slots) {
        fs_kv_free(kv);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cap; i++)
        kv->slots[i] = (kv_slot){ 0, -1 };
    kv->mask = cap - 1;
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

/* Drops the hash block b carries, if any (its index entry and the flag). */
static void drop_hash(fs_kv *kv, int32_t b)
{
    kv_block *blk = &kv->b[b];
    if (!blk->hashed)
        return;
    size_t slot = index_slot(kv, blk->hash);
    assert(kv->slots[slot].val == b);
    index_delete(kv, slot);
    blk->hashed = 0;
    kv->ncached--;
    if (kv->hooks.removed)
        kv->hooks.removed(kv->hooks.ctx, blk->hash);
}

/*
 * Starts loading the index slot of hash. Once the pool outgrows the caches, every
 * probe of a block's life (store, evict) misses; issuing the load one operation ahead
 * overlaps it with the previous operation's misses. Measured: a few percent at 20,000
 * blocks. Larger pools stay memory-bound (about half the speed at 400,000 blocks).
 * Tried and dropped: 2 MiB transparent huge pages for the big arrays (no gain here).
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
    const kv_block *head = &kv->b[kv->b[kv->n].next];   /* the sentinel when empty */
    if (head->hashed)
        index_prefetch(kv, head->hash);   /* the next pop drops that hash */
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
    if (kv->slots[slot].val >= 0)
        return false;
    kv->slots[slot] = (kv_slot){ hash, b };
    kv->b[b].hash = hash;
    kv->b[b].hashed = 1;
    kv->ncached++;
    if (kv->hooks.stored)
        kv->hooks.stored(kv->hooks.ctx, hash);
    return true;
}

void fs_kv_cache_run(fs_kv *kv, const int32_t *blocks, const uint64_t *hashes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n)
            index_prefetch(kv, hashes[i + 1]);
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

/* The index: entries match their blocks, hashed blocks are indexed, counts agree. */
static int check_index(const fs_kv *kv, char **err)
{
    int64_t entries = 0, hashed = 0;
    for (size_t s = 0; s <= kv->mask; s++) {
        int32_t v = kv->slots[s].val;
        if (v < 0)
            continue;
        entries++;
        if (v >= kv->n || !kv->b[v].hashed || kv->b[v].hash != kv->slots[s].key)
            return fail(err, fu_asprintf("index: slot %zu points to block %d that does "
                                         "not carry its hash", s, (int)v));
    }
    for (int32_t i = 0; i < kv->n; i++) {
        if (!kv->b[i].hashed)
            continue;
        hashed++;
        if (fs_kv_find(kv, kv->b[i].hash) != i)
            return fail(err, fu_asprintf("index: hashed block %d is not found", (int)i));
    }
    if (entries != hashed || hashed != kv->ncached)
        return fail(err, fu_asprintf("index: %lld entries, %lld hashed blocks, cached "
                                     "count %lld", (long long)entries, (long long)hashed,
                                     (long long)kv->ncached));
    return 0;
}

int fs_kv_check(const fs_kv *kv, char **err)
{
    int rc = check_queue(kv, err);
    return rc ? rc : check_index(kv, err);
}
