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
    uint64_t output_content;  /* content id of the response's tokens, so that a later
                                 turn can name it in its prompt; 0 = the engine picks
                                 one unique to the request */
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

/*
 * A generator source (one gsl_rng_mt19937 stream seeded with cfg->seed; GSL keeps 32
 * bits of a seed, so the high half is xor-folded into the low half). The same config
 * gives the same sequence. Per request it draws, in this order: the gap to the next
 * arrival (the first request arrives one gap after 0), the prefix group, the input
 * length, the output length.
 *  - arrival: Poisson (exponential gaps, mean 1/rate) or gamma renewal (shape 1/cv^2,
 *    scale 1/(rate shape)). Arrival times are the running double sum of gaps, rounded
 *    to ns each time, so rounding never accumulates.
 *  - lengths: fixed = mean; uniform = an integer in lo..hi inclusive; normal;
 *    lognormal given the mean and sd of the length itself (not of its log). Draws are
 *    rounded and clamped to [max(1, lo), hi] when hi > 0, else to >= 1.
 *  - prompt: [(prefix of a uniformly drawn group, prefix_tokens), (unique, input)]
 *    when prefix_tokens > 0 (prefix_groups 0 counts as 1), else [(unique, input)];
 *    content ids are hashes of a tag, an index and the seed, so prefix and unique ids
 *    never meet. input_tokens counts both segments. session, cls, priority are 0.
 *  - stops after max_requests, or before the first arrival later than duration_ns,
 *    whichever comes first; at least one of the two must be set.
 * Fails with -EINVAL (message naming the field, e.g. "arrival.rate", "input.sd") for
 * rate <= 0, gamma cv <= 0, sd < 0, lo or hi < 0, lo > hi (hi > 0), uniform without
 * hi, lognormal mean <= 0, fixed mean < 1, non-finite numbers, unknown kinds, no stop
 * condition; -ENOMEM when out of memory. *out is NULL on failure.
 */
int ft_gen_new(const ft_gen_config *cfg, ft_source **out, char **err);

/* --- trace readers --- */

/*
 * Azure LLM inference trace, 2023 layout: header TIMESTAMP,ContextTokens,GeneratedTokens
 * and timestamps "YYYY-MM-DD HH:MM:SS.fffffff". Arrivals are shifted so the first row
 * is at 0. A malformed row is an error naming file:line. Rows are streamed (libcsv).
 * Also reads the 2024 layout (same columns, "...SS.ffffff+00:00": any +HH:MM, -HH:MM
 * or Z offset is applied) and a leading ROW_INDEX column (the 2024 notebook excerpts).
 * 0 to 9 fractional digits. Token counts of 0 read as 1 (no error); timestamps must not
 * decrease. Each prompt is one segment with a content id unique to its line.
 * max_requests 0 = all rows. Errors: the file cannot be opened (-errno) or its header
 * is wrong (-EINVAL, "file:1: expected the header ..."): here, *out NULL; a bad row:
 * from ft_source_next(), after the good rows before it, and again on every later call.
 */
int ft_azure_open(const char *path, uint64_t max_requests, ft_source **out, char **err);

/* --- any trace, by format --- */

typedef enum ft_format {
    FT_FMT_AUTO = 0,    /* sniffed from the first line */
    FT_FMT_AZURE,       /* Azure LLM inference trace, 2023 and 2024 layouts */
} ft_format;

typedef struct ft_trace_opts {
    ft_format format;
    char path[4096];
    uint64_t max_requests;      /* the first N rows (0 = all) */
} ft_trace_opts;

/*
 * Opens a trace file in the given format (or the sniffed one). Errors as the format's
 * own opener; an unknown layout is -EINVAL naming file:1 and the formats known.
 */
int ft_trace_open(const ft_trace_opts *o, ft_source **out, char **err);

/* --- transforms --- */

typedef struct ft_transforms {
    uint64_t limit;             /* stop after this many requests (0 = no limit) */
} ft_transforms;

/* --- prefix hashing --- */

/*
 * Chained hashes of the full blocks of a prompt at `block_size` tokens per block:
 * h[i] = xxh64(description of block i's tokens, seed = h[i-1]) (h[-1] = `seed`).
 * The description lists, for each maximal run of the block's tokens inside one
 * segment, (content id, start offset in that segment, run length) as three 64-bit
 * little-endian words; it depends only on token identities, so two prompts get equal
 * h[i] exactly while their first (i+1)*block_size tokens agree (and seeds are equal).
 * A partial last block is not hashed. block_size > 0 (asserted).
 * Writes min(nblocks_max, total_tokens / block_size) hashes to `out` and returns that
 * count. O(number of blocks + segments).
 */
size_t ft_block_hashes(const ft_segment *segs, size_t nsegs, uint32_t block_size,
                       uint64_t seed, uint64_t *out, size_t nblocks_max);

#endif
