/*
 * source.c: the workload-source wrapper and prefix block hashing (libfleettraces).
 *
 * A source is a const table of operations plus private state (ft_source_ops + self),
 * the same plugin shape as every pluggable part of fleetsim; generators and trace
 * readers build one with ft_source_wrap(). This file also derives chained block hashes
 * from a segment description of a prompt, which engines (automatic prefix caching) and
 * policies (prefix-aware scoring) call for every request at their own block size.
 *
 * Workload assumed: prompts of up to a few hundred thousand tokens described by a
 * handful of segments (a shared system prompt, a conversation history, a unique
 * question); block sizes of 16..512 tokens. Hashing therefore walks segments and
 * blocks together and never materialises or visits individual tokens.
 */
#include "ft_workload.h"

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
/* The streaming state on the stack; the header and the library come from one package. */
/* Inlined: a block is hashed from one or two 24-byte pieces, where the call into the
 * shared library and its generic length handling cost more than the hash itself (the
 * same code, so the same hashes). */
#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

struct ft_source {
    const ft_source_ops *ops;
    void *self;
};

ft_source *ft_source_wrap(const ft_source_ops *ops, void *self)
{
    assert(ops && ops->next && ops->destroy);
    ft_source *s = malloc(sizeof *s);
    if (!s) {
        ops->destroy(self);
        return NULL;
    }
    s->ops = ops;
    s->self = self;
    return s;
}

int ft_source_next(ft_source *s, ft_request *out, char **err)
{
    assert(s && out);
    return s->ops->next(s->self, out, err);
}

void ft_source_get_info(ft_source *s, ft_source_info *out)
{
    assert(s && out);
    memset(out, 0, sizeof *out);
    out->kind = s->ops->name;
    if (s->ops->info)
        s->ops->info(s->self, out);
}

void ft_source_free(ft_source *s)
{
    if (!s)
        return;
    s->ops->destroy(s->self);
    free(s);
}

/* --- prefix hashing --- */

/*
 * The canonical description of a block is the sequence of its pieces, each the maximal
 * run of the block's tokens inside one segment: (content id, start offset of the run in
 * that segment's token stream, run length), each field as 8 little-endian bytes.
 * Because token j of a segment is (content, j), a run can never continue across a
 * segment boundary (the next segment starts at offset 0, the previous run ends at an
 * offset >= 1), so equal token identities give equal pieces: the description depends
 * only on the tokens, not on how a prompt happened to be cut into segments.
 * Empty segments contribute no piece.
 *
 * Rejected: hashing (content, offset) per token, which is obviously canonical but costs
 * O(tokens), 1000x more for a long document prompt at block size 16 ... 512.
 */
static void put_le64(unsigned char *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, sizeof v);
}

/*
 * The block being described. Most blocks hold one to a few pieces, so pieces collect in
 * a small buffer hashed in one XXH64() call (about 3x faster than the streaming API for
 * a 24-byte input); a block with more pieces spills into a streaming state, which gives
 * the same hash as the one-shot call over the whole description.
 */
enum { PIECE = 24, BUFPIECES = 8 };

typedef struct block_desc {
    unsigned char buf[PIECE * BUFPIECES];
    size_t used;                /* bytes in buf */
    bool streaming;             /* st holds the earlier bytes of this block */
    XXH64_state_t st;
} block_desc;

static void add_piece(block_desc *b, uint64_t seed, uint64_t content, uint64_t start,
                      uint64_t len)
{
    if (b->used == sizeof b->buf) {
        if (!b->streaming)
            XXH64_reset(&b->st, seed);
        XXH64_update(&b->st, b->buf, b->used);
        b->streaming = true;
        b->used = 0;
    }
    put_le64(b->buf + b->used, content);
    put_le64(b->buf + b->used + 8, start);
    put_le64(b->buf + b->used + 16, len);
    b->used += PIECE;
}

static uint64_t finish_block(block_desc *b, uint64_t seed)
{
    uint64_t h;
    if (b->streaming) {
        XXH64_update(&b->st, b->buf, b->used);
        h = XXH64_digest(&b->st);
    } else {
        h = XXH64(b->buf, b->used, seed);
    }
    b->used = 0;
    b->streaming = false;
    return h;
}

/*
 * The hash of a block that is one piece, the common case (a block inside a segment):
 * XXH64 of its 24-byte description. flatten inlines XXH64's finalisation, which GCC
 * otherwise keeps out of line, so the constant length unrolls it: half the time of the
 * general path in the dependent chain, with the same value.
 */
__attribute__((flatten)) static uint64_t one_piece(uint64_t seed, uint64_t content,
                                                   uint64_t start, uint64_t len)
{
    unsigned char d[PIECE];
    put_le64(d, content);
    put_le64(d + 8, start);
    put_le64(d + 16, len);
    return XXH64(d, sizeof d, seed);
}

/*
 * The chain from block `nb` on, block nb starting at token `off` of segment `first`
 * with h[nb-1] = prev: ft_block_hashes is this from the start, and a memo hit resumes
 * here after the blocks it copied.
 */
static size_t hash_from(const ft_segment *segs, size_t nsegs, size_t first, uint32_t off,
                        uint32_t block_size, uint64_t prev, uint64_t *out, size_t nb,
                        size_t nblocks_max)
{
    block_desc b = { .used = 0, .streaming = false };
    uint32_t fill = 0;      /* tokens already in the block being built */
    for (size_t i = first; i < nsegs && nb < nblocks_max; i++, off = 0) {
        /* off: next unconsumed token of segment i */
        while (off < segs[i].len && nb < nblocks_max) {
            uint32_t take = segs[i].len - off;
            if (take > block_size - fill)
                take = block_size - fill;
            if (take == block_size) {   /* fill == 0: the block is this one piece */
                prev = out[nb++] = one_piece(prev, segs[i].content, off, take);
                off += take;
                continue;
            }
            add_piece(&b, prev, segs[i].content, off, take);
            off += take;
            fill += take;
            if (fill == block_size) {
                prev = out[nb++] = finish_block(&b, prev);
                fill = 0;
            }
        }
    }
    return nb;
}

size_t ft_block_hashes(const ft_segment *segs, size_t nsegs, uint32_t block_size,
                       uint64_t seed, uint64_t *out, size_t nblocks_max)
{
    assert(block_size > 0);
    assert(segs || nsegs == 0);
    assert(out || nblocks_max == 0);
    return hash_from(segs, nsegs, 0, 0, block_size, seed, out, 0, nblocks_max);
}

/* ---------------------------------------------------------------- memo */

/*
 * The blocks that lie wholly inside a prompt's first segment are hashed from
 * (content id, block index) alone: block j's description is (content, j x B, B) and
 * the chain starts from the seed. So their hashes depend only on the first segment's
 * content id (for a given block size and seed), and prompts that open with the same
 * shared prefix (a system prompt, a document, a conversation's first turn) have the
 * same leading hashes. The memo keeps them per content id in a direct-mapped table and
 * copies them instead of recomputing the chain, one XXH64 per block with each waiting
 * for the previous: in a fleet run the engines spent as long hashing the shared
 * prefixes (some 60 of a request's 110 blocks) as on the rest of the prompt.
 */
struct ft_hash_memo {
    uint32_t block_size, max_blocks;
    uint64_t seed;
    size_t mask;
    struct memo_slot {
        uint64_t content;
        uint32_t n;         /* hashes held; 0 = empty */
    } *slots;
    uint64_t *hashes;       /* slot i's at hashes[i * max_blocks] */
};

int ft_hash_memo_new(uint32_t block_size, uint64_t seed, size_t slots, uint32_t max_blocks,
                     ft_hash_memo **out)
{
    *out = NULL;
    if (block_size == 0 || slots == 0 || (slots & (slots - 1)) || max_blocks == 0 ||
        slots > SIZE_MAX / sizeof(uint64_t) / max_blocks)
        return -EINVAL;
    ft_hash_memo *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    *m = (ft_hash_memo){ .block_size = block_size, .max_blocks = max_blocks, .seed = seed,
                         .mask = slots - 1 };
    m->slots = calloc(slots, sizeof *m->slots);
    m->hashes = malloc(slots * max_blocks * sizeof *m->hashes);
    if (!m->slots || !m->hashes) {
        ft_hash_memo_free(m);
        return -ENOMEM;
    }
    *out = m;
    return 0;
}

void ft_hash_memo_free(ft_hash_memo *m)
{
    if (!m)
        return;
    free(m->slots);
    free(m->hashes);
    free(m);
}

size_t ft_block_hashes_memo(ft_hash_memo *m, const ft_segment *segs, size_t nsegs,
                            uint64_t *out, size_t nblocks_max)
{
    assert(m && (segs || nsegs == 0) && (out || nblocks_max == 0));
    uint32_t B = m->block_size;
    size_t k = nsegs ? segs[0].len / B : 0;   /* blocks wholly inside segment 0 */
    k = k < nblocks_max ? k : nblocks_max;
    k = k < m->max_blocks ? k : m->max_blocks;
    if (k == 0)
        return ft_block_hashes(segs, nsegs, B, m->seed, out, nblocks_max);
    uint64_t c = segs[0].content;
    size_t i = (size_t)XXH64(&c, sizeof c, 0) & m->mask;
    struct memo_slot *s = &m->slots[i];
    uint64_t *h = m->hashes + i * m->max_blocks;
    if (s->n >= k && s->content == c) {
        memcpy(out, h, k * sizeof *out);
    } else {
        ft_segment head = { c, (uint32_t)(k * B) };
        hash_from(&head, 1, 0, 0, B, m->seed, out, 0, k);
        memcpy(h, out, k * sizeof *h);
        *s = (struct memo_slot){ c, (uint32_t)k };
    }
    return hash_from(segs, nsegs, 0, (uint32_t)(k * B), B, out[k - 1], out, k, nblocks_max);
}
