/*
 * ft_workload.h: where requests come from (libfleettraces).
 *
 * A workload source yields requests lazily and in arrival order: a trace reader
 * streams a file, a generator draws from GSL random streams. Memory grows with what a
 * source buffers (one file chunk, one request's segments), never with the length of
 * the trace.
 *
 * A prompt has no tokens: it is a sequence of segments (content id, length). Token j
 * of a segment is identified by (content id, j), so two prompts share a prefix exactly
 * where their token identities agree: [(sys,100),(q1,50)] and [(sys,100),(q2,60)] share
 * 100 tokens; [(doc,300)] and [(doc,500)] share 300. Consumers derive block hashes
 * from segments at their own block size (ft_block_hashes) without materialising tokens.
 *
 * Ownership: a source owns the request it returns, including its segments, until the
 * next call to ft_source_next() or ft_source_free(); callers copy what they keep.
 * Errors: 0 or negative errno, message through `char **err` naming file:line.
 * Depends on no other part of the tree.
 */
#ifndef FT_WORKLOAD_H
#define FT_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ft_segment {
    uint64_t content;   /* content id: equal ids mean equal token streams */
    uint32_t len;       /* tokens taken from the start of that stream */
} ft_segment;

typedef struct ft_request {
    int64_t arrival_ns;       /* arrival time, ns from the start of the workload */
    uint32_t input_tokens;    /* = sum of segment lengths */
    uint32_t output_tokens;   /* tokens to generate (>= 1) */
    const ft_segment *segs;   /* prompt description, owned by the source */
    uint32_t nsegs;
    uint64_t session;         /* 0 = none */
    int cls;                  /* workload class index, 0 by default */
    int priority;             /* lower runs first under priority scheduling */
} ft_request;

typedef struct ft_source ft_source;

/* Operations of one source kind; `self` is its private state. */
typedef struct ft_source_ops {
    const char *name;
    /* 1 = *out filled, 0 = end of workload, <0 = error with *err. */
    int (*next)(void *self, ft_request *out, char **err);
    void (*destroy)(void *self);
} ft_source_ops;

/* Wraps an implementation; takes ownership of self (destroyed on failure). */
ft_source *ft_source_wrap(const ft_source_ops *ops, void *self);
/* Next request in arrival order: 1 = got one, 0 = end, <0 = error (message in *err). */
int ft_source_next(ft_source *s, ft_request *out, char **err);
/* Frees a source; accepts NULL. */
void ft_source_free(ft_source *s);

/* --- generator --- */

typedef enum ft_arrival_kind { FT_ARR_POISSON, FT_ARR_GAMMA } ft_arrival_kind;
typedef struct ft_arrival {
    ft_arrival_kind kind;
    double rate;        /* mean requests per second (> 0) */
    double cv;          /* coefficient of variation of inter-arrival times (gamma) */
} ft_arrival;

typedef enum ft_dist_kind { FT_DIST_FIXED, FT_DIST_UNIFORM, FT_DIST_NORMAL, FT_DIST_LOGNORMAL } ft_dist_kind;
typedef struct ft_dist {
    ft_dist_kind kind;
    double mean;        /* fixed value, or mean (normal, lognormal) */
    double sd;          /* standard deviation (normal, lognormal) */
    double lo, hi;      /* uniform bounds; for all kinds draws are clamped to [lo, hi] when hi > 0 */
} ft_dist;

typedef struct ft_gen_config {
    uint64_t seed;
    ft_arrival arrival;
    ft_dist input;          /* prompt tokens (after the shared prefix) */
    ft_dist output;         /* output tokens */
    uint32_t prefix_tokens; /* shared system prompt length (0 = none) */
    uint32_t prefix_groups; /* number of distinct shared prefixes, picked uniformly */
    uint64_t max_requests;  /* stop after this many (0 = no limit) */
    int64_t duration_ns;    /* stop at this arrival time (0 = no limit) */
} ft_gen_config;

/* A generator source. Fails with -EINVAL for an invalid configuration. */
int ft_gen_new(const ft_gen_config *cfg, ft_source **out, char **err);

/* --- trace readers --- */

/*
 * Azure LLM inference trace, 2023 layout: header TIMESTAMP,ContextTokens,GeneratedTokens
 * and timestamps "YYYY-MM-DD HH:MM:SS.fffffff". Arrivals are shifted so the first row
 * is at 0. A malformed row is an error naming file:line. Rows are streamed (libcsv).
 */
int ft_azure_open(const char *path, uint64_t max_requests, ft_source **out, char **err);

/* --- prefix hashing --- */

/*
 * Chained hashes of the full blocks of a prompt at `block_size` tokens per block:
 * h[i] = xxh64(description of block i's tokens, seed = h[i-1]) (h[-1] = `seed`).
 * Writes min(nblocks_max, total_tokens / block_size) hashes to `out` and returns that
 * count. O(number of blocks + segments).
 */
size_t ft_block_hashes(const ft_segment *segs, size_t nsegs, uint32_t block_size,
                       uint64_t seed, uint64_t *out, size_t nblocks_max);

#endif
