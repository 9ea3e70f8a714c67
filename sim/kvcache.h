/*
 * kvcache.h: the paged KV block pool of one engine, with automatic prefix caching
 * (internal to sim/; the engine is its only user besides the tests).
 *
 * It follows vLLM V1's BlockPool and FreeKVCacheBlockQueue (shared/reference/
 * vllm-engine.md §2): `num_blocks` usable blocks (vLLM's null block is already left
 * out by the caller), each with a reference count and at most one block hash. Free
 * blocks (ref 0) sit in a free queue, initially in block-id order, that behaves as
 * vLLM's doubly linked list (kept as a ring of block ids with lazy removal, kvcache.c).
 * Allocation pops the head and drops the hash the popped block carried; freeing
 * appends blocks that reach ref 0 at the tail, so the head is the least recently
 * freed block and eviction is LRU. A freed block keeps its hash and stays findable
 * until it is popped (lazy eviction); a hit on it revives it (fs_kv_touch).
 *
 * Workload assumed: tens of thousands to a few million blocks, one lookup per full
 * block at admission, and a pop or release every block_size tokens of a sequence, so
 * every operation here is O(1) (release: O(blocks released); fs_kv_cache and the
 * free queue amortised)
 * and nothing allocates after fs_kv_new().
 *
 * The index from hash to block is an open-addressing table with linear probing keyed
 * by the 64-bit chained block hash itself (keys are already uniform hashes, so the low
 * bits are the bucket: no rehash), whose 8-byte slots hold the key's upper 32 bits and
 * the block. It is sized to a power of two >= 4 x num_blocks and never grows. Deletion
 * is lazy: an evicted block's entry stays until a registration with its tag reuses it
 * or the table is rebuilt (when live + stale entries pass half of it); a lookup
 * validates that the block still carries the full key, so eviction costs no index
 * access (see kvcache.c). Rejected: a library map. Of the allowed Debian
 * libraries (GSL, SQLite, libcsv, libyaml, jansson, xxhash) none offers an in-memory
 * hash map with integer keys; jansson's object is keyed by strings and allocates per
 * entry.
 *
 * Identical blocks are not de-duplicated, as in vLLM: registering a hash that another
 * block already carries keeps the existing mapping and leaves the new block without a
 * hash. (vLLM keeps both in a multi-map, so when the first is evicted the second is
 * still findable; here it is not. The difference only matters when two requests
 * compute the same block concurrently, and it costs at most one recomputed block.)
 *
 * Ownership: the pool owns its arrays; block tables belong to the caller, which passes
 * them to fs_kv_release(). Misuse (popping an empty queue, touching an out-of-range
 * block, releasing an unreferenced block) is an assert.
 */
#ifndef FS_KVCACHE_H
#define FS_KVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fs_kv fs_kv;

/* Notifications of the prefix cache's contents; any member may be NULL. */
typedef struct fs_kv_hooks {
    void *ctx;
    /* A hash was newly registered (fs_kv_cache returned true). */
    void (*stored)(void *ctx, uint64_t hash);
    /* A hash left the cache because its block was popped for reuse. */
    void (*removed)(void *ctx, uint64_t hash);
} fs_kv_hooks;

/*
 * A pool of num_blocks (1 .. INT32_MAX - 1) free blocks, none hashed, the free queue
 * in block-id order. hooks may be NULL; it is copied. Returns 0, -EINVAL for a bad
 * count, -ENOMEM.
 */
int fs_kv_new(int64_t num_blocks, const fs_kv_hooks *hooks, fs_kv **out);
/* Frees the pool; accepts NULL. */
void fs_kv_free(fs_kv *kv);

/* Usable blocks. */
int64_t fs_kv_total(const fs_kv *kv);
/* Blocks in the free queue (ref 0), whether or not they still carry a hash. */
int64_t fs_kv_num_free(const fs_kv *kv);
/* Blocks that carry a hash (= entries of the hash index). */
int64_t fs_kv_num_cached(const fs_kv *kv);
/* 1 - free/total, as vllm:kv_cache_usage_perc. */
double fs_kv_usage(const fs_kv *kv);

/* The block registered under hash, or -1. Does not change the block. */
int32_t fs_kv_find(const fs_kv *kv, uint64_t hash);
/*
 * The leading run of hashes[0..n-1] that fs_kv_find() finds, into out[0..k-1]; returns
 * k. The same as calling fs_kv_find() in order until the first -1, but loads index
 * slots and blocks a few hashes ahead (a prompt is looked up dozens of blocks at once).
 */
size_t fs_kv_find_run(const fs_kv *kv, const uint64_t *hashes, size_t n, int32_t *out);
/* Reference count of block b. */
uint32_t fs_kv_ref(const fs_kv *kv, int32_t b);
/* True when b carries a hash; stores it in *hash (may be NULL). */
bool fs_kv_block_hash(const fs_kv *kv, int32_t b, uint64_t *hash);

/* Takes one more reference to b (a prefix hit); a free block leaves the free queue. */
void fs_kv_touch(fs_kv *kv, int32_t b);
/*
 * Pops the least recently freed block (the queue's head; asserts one is free), drops
 * the hash it carried (hooks.removed) and returns it with ref 1.
 */
int32_t fs_kv_pop(fs_kv *kv);
/*
 * Drops one reference to each of blocks[0..n-1], walking the table backwards (tail
 * block first) so that a request's later blocks are evicted before its prefix. Blocks
 * reaching ref 0 go to the tail of the free queue and keep their hash.
 */
void fs_kv_release(fs_kv *kv, const int32_t *blocks, size_t n);
/*
 * Registers b (referenced, not yet hashed) under hash. Returns true when the hash was
 * new (hooks.stored is called); false when another block already carries it (b stays
 * unhashed, the existing mapping is kept).
 */
bool fs_kv_cache(fs_kv *kv, int32_t b, uint64_t hash);

/*
 * fs_kv_cache() of blocks[i] under hashes[i] for i in 0..n-1, in order, loading each
 * index slot one registration ahead (a prefill registers dozens of blocks at once).
 */
void fs_kv_cache_run(fs_kv *kv, const int32_t *blocks, const uint64_t *hashes, size_t n);

/*
 * Starts loading the index slots where hashes[0..n-1] would be found or registered, a
 * hint with no effect on results: the engine issues it a little before a lookup or
 * registration whose slots it knows (a block that the next step fills), so that the
 * miss overlaps other work.
 */
void fs_kv_prefetch_index(const fs_kv *kv, const uint64_t *hashes, size_t n);
/* Starts loading block b (0 <= b < total), a hint like fs_kv_prefetch_index. */
void fs_kv_prefetch_block(const fs_kv *kv, int32_t b);
/* Starts loading the blocks the next n pops will probably return (a hint; a few more
 * when revived blocks left stale entries at the head of the queue). */
void fs_kv_prefetch_pops(const fs_kv *kv, size_t n);

/*
 * The first up to n blocks of the free queue, head first, into out; returns how many.
 * O(n): for tests and diagnostics.
 */
size_t fs_kv_free_order(const fs_kv *kv, int32_t *out, size_t n);

/*
 * Checks the pool's invariants: the free queue's live ring entries are exactly the
 * blocks with ref 0, as many as the free count, each at its recorded position; every
 * index entry that may be live lies on its key's probe run, every hashed block is
 * found, and the counts agree (stale entries are allowed). Returns 0, or -EINVAL with a message in *err
 * (caller frees; err may be NULL), -ENOMEM. O(blocks + index slots).
 */
int fs_kv_check(const fs_kv *kv, char **err);

#endif
