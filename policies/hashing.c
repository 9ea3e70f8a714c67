/*
 * hashing.c: the small pure functions of libfleetpolicy: the caller-owned random source
 * (xoshiro256**), prompt block hashes for the approximate and precise prefix indexes,
 * base64 for session tokens, and array growth.
 *
 * Workload: prefix hashes are computed once per pick for prompts of up to 131,072
 * tokens (2,048 blocks of 64), so they must cost O(blocks + segments) and no token is
 * ever materialised: a simulated prompt is a list of segments and a block's content is
 * identified by the (content id, offset, length) runs it covers, hashed with XXH64.
 * Two prompts whose first k blocks cover the same token identities get the same first
 * k hashes, exactly as two real prompts with the same first k*block_size tokens do.
 *
 * llm-d (approx-prefix-cache-producer, hashing.go) chains
 *   h_{-1} = xxh64(model || cache_salt),  h_i = xxh64(le64(xxh64(block_i)) || le64(h_{i-1}))
 * with all seeds 0, and includes the last partial block. From text, the estimate
 * backend's blocks are block_size * 4 bytes; from token ids, block_size little-endian
 * uint32s. The precise keys of fp_block_keys() are this library's own (llm-d-kv-cache
 * uses FNV-64a over CBOR of real tokens, which segments do not have): what matters for
 * the precise index is only that lookups and KV events use the same function.
 */
#define XXH_INLINE_ALL /* small fixed-size inputs: let the compiler specialise XXH64 */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fp_internal.h"

/* ------------------------------------------------------------------ random source */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void fp_rng_seed(fp_rng *r, uint64_t seed)
{
    assert(r);
    r->next = NULL;
    r->ctx = NULL;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t fp_rng_u64(fp_rng *r)
{
    assert(r);
    if (r->next)
        return r->next(r->ctx);
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double fp_rng_uniform(fp_rng *r) { return (double)(fp_rng_u64(r) >> 11) * 0x1.0p-53; }

/* Lemire's multiply-and-reject: unbiased, one draw almost always. */
uint64_t fp_rng_below(fp_rng *r, uint64_t n)
{
    assert(n > 0);
    unsigned __int128 m = (unsigned __int128)fp_rng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (unsigned __int128)fp_rng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* ------------------------------------------------------------------ block hashing */

static void put64(unsigned char *b, uint64_t v)
{
    v = htole64(v);
    memcpy(b, &v, sizeof v);
}

/*
 * The fixed-size XXH64 calls below are flattened: GCC keeps XXH64's finalisation out of
 * line, and inlining it lets the constant length unroll it, which halves the cost of the
 * chain's dependent steps (same values).
 */

/* xxh64(le64(a) || le64(b)), seed 0: llm-d's chaining step. */
__attribute__((flatten)) static uint64_t chain(uint64_t block, uint64_t prev)
{
    unsigned char b[16];
    put64(b, block);
    put64(b + 8, prev);
    return XXH64(b, sizeof b, 0);
}

/* h_{-1}: xxh64 of the concatenation of two strings, seed 0. */
static uint64_t hash2(const char *a, const char *b)
{
    XXH64_state_t st;
    XXH64_reset(&st, 0);
    if (a)
        XXH64_update(&st, a, strlen(a));
    if (b)
        XXH64_update(&st, b, strlen(b));
    return XXH64_digest(&st);
}

uint64_t fp__hash_str(const char *s) { return XXH64(s, strlen(s), 0); }

/*
 * Hashing runs in two passes: first every block's content hash into out[] (independent
 * of one another, so the CPU overlaps them), then the chain over out[] in place (a
 * dependency chain of one short XXH64 per block). Interleaving the two measured ~3x
 * slower: each block's content hash then waits behind the previous chain step.
 * APPROX hashes content with seed 0 and chains as llm-d does; PRECISE seeds each block's
 * content hash with the previous key, so it is one pass. `partial` says whether a last,
 * short block counts.
 */
typedef struct chainer {
    bool precise, partial;
    uint64_t prev;
    uint64_t *out;
    size_t n, max;
} chainer;

static void emit(chainer *c, uint64_t content_hash)
{
    if (c->precise)
        c->prev = content_hash;
    c->out[c->n++] = content_hash;
}

static void finish_chain(chainer *c)
{
    if (c->precise)
        return;
    uint64_t prev = c->prev;
    for (size_t i = 0; i < c->n; i++)
        prev = c->out[i] = chain(c->out[i], prev);
    c->prev = prev;
}

typedef struct seg_block {
    unsigned char first[24];
    unsigned nruns;
    XXH64_state_t st;
} seg_block;

static void block_run(seg_block *b, uint64_t seed, uint64_t content, uint64_t off, uint64_t len)
{
    unsigned char w[24];
    put64(w, content);
    put64(w + 8, off);
    put64(w + 16, len);
    if (b->nruns == 0) {
        memcpy(b->first, w, sizeof w);
    } else {
        if (b->nruns == 1) {
            XXH64_reset(&b->st, seed);
            XXH64_update(&b->st, b->first, sizeof b->first);
        }
        XXH64_update(&b->st, w, sizeof w);
    }
    b->nruns++;
}

/* XXH64 of a one-run block's 24-byte description. */
__attribute__((flatten)) static uint64_t one_run(const unsigned char *d, uint64_t seed)
{
    return XXH64(d, 24, seed);
}

static uint64_t block_done(seg_block *b, uint64_t seed)
{
    uint64_t h = b->nruns == 1 ? one_run(b->first, seed) : XXH64_digest(&b->st);
    b->nruns = 0;
    return h;
}

static void hash_segments(chainer *c, const fp_segment *segs, size_t nsegs, uint32_t bs)
{
    seg_block b = { .nruns = 0 };
    uint32_t fill = 0;
    for (size_t i = 0; i < nsegs && c->n < c->max; i++) {
        uint32_t off = 0;
        while (off < segs[i].len && c->n < c->max) {
            uint32_t take = segs[i].len - off;
            if (take > bs - fill)
                take = bs - fill;
            block_run(&b, c->precise ? c->prev : 0, segs[i].content, off, take);
            off += take;
            fill += take;
            if (fill == bs) {
                emit(c, block_done(&b, c->precise ? c->prev : 0));
                fill = 0;
            }
        }
    }
    if (fill > 0 && c->partial && c->n < c->max)
        emit(c, block_done(&b, 0));
}

/* Fixed-size byte blocks (text: 4 bytes per pseudo-token; tokens: 4 bytes each). */
static void hash_bytes(chainer *c, const unsigned char *p, size_t len, size_t block_bytes)
{
    for (size_t at = 0; at < len && c->n < c->max; at += block_bytes) {
        size_t take = len - at < block_bytes ? len - at : block_bytes;
        if (take < block_bytes && !c->partial)
            break;
        emit(c, XXH64(p + at, take, c->precise ? c->prev : 0));
    }
}

static void hash_tokens(chainer *c, const uint32_t *tok, size_t n, uint32_t bs)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    hash_bytes(c, (const unsigned char *)tok, n * 4, (size_t)bs * 4);
#else
    unsigned char *buf = malloc((size_t)bs * 4);
    for (size_t at = 0; buf && at < n && c->n < c->max; at += bs) {
        size_t take = n - at < bs ? n - at : bs;
        if (take < bs && !c->partial)
            break;
        for (size_t j = 0; j < take; j++)
            for (int k = 0; k < 4; k++)
                buf[4 * j + k] = (unsigned char)(tok[at + j] >> (8 * k));
        emit(c, XXH64(buf, take * 4, c->precise ? c->prev : 0));
    }
    free(buf);
#endif
}

static size_t run_chain(chainer *c, const fp_request *r, uint32_t bs)
{
    if (c->max == 0)
        return 0;
    if (r->tokens && r->ntokens > 0)
        hash_tokens(c, r->tokens, r->ntokens, bs);
    else if (r->text && r->text_len > 0)
        hash_bytes(c, (const unsigned char *)r->text, r->text_len, (size_t)bs * 4);
    else if (r->segs && r->nsegs > 0)
        hash_segments(c, r->segs, r->nsegs, bs);
    finish_chain(c);
    return c->n;
}

size_t fp_prefix_hashes(const fp_request *req, uint32_t block_size, uint64_t *out, size_t max)
{
    assert(req && block_size > 0 && (out || max == 0));
    chainer c = { .precise = false, .partial = true, .out = out, .max = max,
                  .prev = hash2(req->model, req->cache_salt) };
    return run_chain(&c, req, block_size);
}

size_t fp_block_keys(const fp_request *req, uint32_t block_size, const char *hash_seed,
                     uint64_t *out, size_t max)
{
    assert(req && block_size > 0 && (out || max == 0));
    chainer c = { .precise = true, .partial = false, .out = out, .max = max,
                  .prev = hash2(req->model, hash_seed) };
    return run_chain(&c, req, block_size);
}

/* ------------------------------------------------------------------ base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t fp__base64(const char *s, size_t n, char *buf, size_t len)
{
    size_t need = (n + 2) / 3 * 4, o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        char q[4] = { b64[v >> 18], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                      i + 2 < n ? b64[v & 63] : '=' };
        for (int k = 0; k < 4; k++, o++)
            if (o + 1 < len)
                buf[o] = q[k];
    }
    if (len > 0)
        buf[o < len ? o : len - 1] = '\0';
    return need;
}

static int b64val(char ch)
{
    const char *at = ch ? strchr(b64, ch) : NULL;
    return at ? (int)(at - b64) : -1;
}

char *fp__unbase64(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '=')
        n--;
    char *out = malloc(n * 3 / 4 + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------------ arrays */

int fp__grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 8;
    while (ncap < need)
        ncap *= 2;
    void *a = realloc(*arr, ncap * size);
    if (!a)
        return -ENOMEM;
    memset((char *)a + *cap * size, 0, (ncap - *cap) * size);
    *arr = a;
    *cap = ncap;
    return 0;
}
