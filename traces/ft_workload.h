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
#include <stdio.h>

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

/* What a source can say about itself (ft_source_info). */
typedef struct ft_source_info {
    const char *kind;           /* "generator", "azure", ...: the innermost source's */
    uint64_t skipped;           /* bad rows skipped (skip_bad_rows), so far */
    uint64_t filtered;          /* rows dropped by a reader filter (model, log type, zeros) */
    const char *first_skipped;  /* message of the first skipped row, or NULL; owned by
                                   the source, valid until its next call */
    bool shares_prefixes;       /* prompts may share content (prefix caching matters) */
} ft_source_info;

/* Operations of one source kind; `self` is its private state. */
typedef struct ft_source_ops {
    const char *name;
    /* 1 = *out filled, 0 = end of workload, <0 = error with *err. */
    int (*next)(void *self, ft_request *out, char **err);
    void (*destroy)(void *self);
    /* Optional (NULL: all zero): fills *out. */
    void (*info)(void *self, ft_source_info *out);
} ft_source_ops;

/* Wraps an implementation; takes ownership of self (destroyed on failure). */
ft_source *ft_source_wrap(const ft_source_ops *ops, void *self);
/* Next request in arrival order: 1 = got one, 0 = end, <0 = error (message in *err). */
int ft_source_next(ft_source *s, ft_request *out, char **err);
/* What the source reports about itself so far (zeros when it reports nothing). */
void ft_source_get_info(ft_source *s, ft_source_info *out);
/* Frees a source; accepts NULL. */
void ft_source_free(ft_source *s);

/* --- generator --- */

typedef enum ft_arrival_kind {
    FT_ARR_POISSON,     /* exponential gaps */
    FT_ARR_GAMMA,       /* gamma renewal process with a given cv */
    FT_ARR_WEIBULL,     /* Weibull renewal process with a given cv */
    FT_ARR_ONOFF,       /* bursty: Poisson at `rate` while on, `off_rate` while off */
    FT_ARR_DIURNAL,     /* Poisson whose rate follows a sinusoid over `period_s` */
    FT_ARR_WINDOWS,     /* per-window rate, cv and family (ServeGen's trace files) */
} ft_arrival_kind;

/* Gap families of FT_ARR_WINDOWS. */
typedef enum ft_family { FT_FAM_EXPONENTIAL, FT_FAM_GAMMA, FT_FAM_WEIBULL } ft_family;

typedef struct ft_rate_window {
    double start_s;     /* window start, seconds from the workload's start */
    double rate;        /* requests per second (0 = silent window) */
    double cv;          /* coefficient of variation of the gaps (gamma, weibull) */
    ft_family family;
} ft_rate_window;

typedef struct ft_arrival {
    ft_arrival_kind kind;
    double rate;        /* requests/s: the mean (poisson, gamma, weibull, diurnal), the
                           on-period rate (onoff); the rates' multiplier (windows; 0 = 1) */
    double cv;          /* coefficient of variation of inter-arrival times (gamma, weibull) */
    double off_rate;    /* onoff: requests/s while off (>= 0) */
    double on_s, off_s; /* onoff: mean lengths of on and off periods (exponential) */
    double amplitude;   /* diurnal: rate(t) = rate (1 + amplitude cos(2 pi (t - peak_s) / period_s)) */
    double period_s;    /* diurnal: period (0 = one day) */
    double peak_s;      /* diurnal: time of the peak within a period */
    const ft_rate_window *windows;  /* windows: sorted by start_s; borrowed, copied by ft_gen_new */
    size_t nwindows;
    double window_s;    /* windows: length of each window (0 = 600 s, ServeGen's) */
} ft_arrival;

typedef enum ft_dist_kind {
    FT_DIST_FIXED, FT_DIST_UNIFORM, FT_DIST_NORMAL, FT_DIST_LOGNORMAL,
    FT_DIST_EMPIRICAL,  /* values[i] with probability weights[i] / sum(weights) */
} ft_dist_kind;

typedef struct ft_dist {
    ft_dist_kind kind;
    double mean;        /* fixed value, or mean (normal, lognormal) */
    double sd;          /* standard deviation (normal, lognormal) */
    double lo, hi;      /* uniform bounds; for all kinds draws are clamped to [lo, hi] when hi > 0 */
    const double *values;   /* empirical: borrowed, copied by ft_gen_new */
    const double *weights;
    size_t nvalues;
} ft_dist;

/*
 * Multi-turn sessions and agentic loops. A session arrives by the arrival process and
 * issues `turns` requests; request k's prompt is the previous prompt, the previous
 * response (by its output_content) and a new message, so each turn extends the last
 * one and the prefix cache sees the whole history. The next request is released
 * `think_s` seconds after the expected end of the previous response:
 * ttft_s + output_tokens x tpot_s (the generator gets no feedback from the simulator;
 * this open-loop estimate keeps the workload independent of the system under test).
 */
typedef struct ft_session {
    bool on;
    ft_dist turns;          /* requests per session (>= 1) */
    ft_dist think_s;        /* seconds between a response and the next request (>= 0) */
    ft_dist followup;       /* new tokens of turns 2.. (a user message, a tool result);
                               kind FIXED with mean 0 = the class's input distribution */
    double ttft_s, tpot_s;  /* expected response time: ttft_s + output x tpot_s */
    uint32_t max_context;   /* end a session before a prompt above this (0 = no limit) */
} ft_session;

/* Retrieval-augmented prompts: documents drawn from a shared pool by Zipf popularity. */
typedef struct ft_rag {
    bool on;
    uint32_t documents;     /* pool size (>= 1) */
    ft_dist doc_tokens;     /* each document's length, drawn once per document */
    uint32_t per_request;   /* distinct documents per prompt (1..documents) */
    double zipf_s;          /* popularity of the document of rank r ~ 1 / r^zipf_s (>= 0) */
} ft_rag;

/* One class of a mixture: its share of arrivals and the shape of its prompts. */
typedef struct ft_class {
    char name[32];
    double weight;          /* relative share of arrivals (> 0) */
    int priority;           /* copied to every request of the class */
    ft_dist input;          /* new prompt tokens per request (question, user message) */
    ft_dist output;         /* output tokens */
    uint32_t prefix_tokens; /* shared system prompt length (0 = none) */
    uint32_t prefix_groups; /* distinct system prompts, picked uniformly (0 = 1) */
    uint32_t prefix_users;  /* users per group, each with a fixed question (0 = every
                               question unique): llm-d's shared-prefix benchmark shape */
    ft_session session;
    ft_rag rag;
} ft_class;

typedef struct ft_gen_config {
    uint64_t seed;
    ft_arrival arrival;
    ft_dist input;          /* prompt tokens (after the shared prefix) */
    ft_dist output;         /* output tokens */
    uint32_t prefix_tokens; /* shared system prompt length (0 = none) */
    uint32_t prefix_groups; /* number of distinct shared prefixes, picked uniformly */
    uint64_t max_requests;  /* stop after this many (0 = no limit) */
    int64_t duration_ns;    /* stop at this arrival time (0 = no limit) */
    const ft_class *classes;/* a mixture (borrowed, copied by ft_gen_new); when nclasses
                               is 0 the fields input..prefix_groups form the one class */
    size_t nclasses;
} ft_gen_config;

/*
 * A generator source (one gsl_rng_mt19937 stream seeded with cfg->seed; GSL keeps 32
 * bits of a seed, so the high half is xor-folded into the low half). The same config
 * gives the same sequence. Per arrival it draws, in this order: the gap to the next
 * arrival (the first request arrives one gap after 0), the class (only when there are
 * several), then the class's draws: the prefix group, the user (prefix_users > 0), the
 * documents (RAG), the input length, the output length; a session then draws its turn
 * count, and the think time before its next request whenever one is issued; a later
 * request draws its new message and output length when it is released. Fixed lengths
 * (each user's question, each document) are drawn once, when the generator is made.
 *  - arrival: Poisson (exponential gaps, mean 1/rate); gamma renewal (shape 1/cv^2,
 *    scale 1/(rate shape)); Weibull renewal (shape solved from cv, scale from the mean);
 *    onoff (a two-state Markov-modulated Poisson process, exponential period lengths,
 *    starting on); diurnal (a non-homogeneous Poisson process drawn by thinning);
 *    windows (in each window a renewal process of the window's family with mean gap
 *    1/rate and the window's cv, restarted at every window boundary; silent windows
 *    are skipped; the workload ends after the last window). Arrival times are the
 *    running double sum of gaps, rounded to ns each time, so rounding never accumulates.
 *  - lengths: fixed = mean; uniform = an integer in lo..hi inclusive; normal;
 *    lognormal given the mean and sd of the length itself (not of its log);
 *    empirical = one of `values` with probability proportional to its weight (GSL's
 *    Walker alias tables). Draws are rounded and clamped to [max(1, lo), hi] when
 *    hi > 0, else to >= 1.
 *  - prompt: [(prefix of a uniformly drawn group, prefix_tokens)] when prefix_tokens
 *    > 0, then the RAG documents, then (the user's question or a unique one, input);
 *    content ids are hashes of a tag, an index and the seed, so prefix, document,
 *    question and output ids never meet. input_tokens counts every segment. cls is the
 *    class index, priority the class's, session a per-session id (sessions only).
 *  - stops after max_requests, or before the first arrival later than duration_ns,
 *    whichever comes first; at least one of the two must be set (windows end by
 *    themselves).
 * Fails with -EINVAL (message naming the field, e.g. "arrival.rate", "input.sd") for
 * rate <= 0, gamma cv <= 0, sd < 0, lo or hi < 0, lo > hi (hi > 0), uniform without
 * hi, lognormal mean <= 0, fixed mean < 1, non-finite numbers, unknown kinds, no stop
 * condition, and the like for every other field; -ENOMEM when out of memory. *out is
 * NULL on failure.
 */
int ft_gen_new(const ft_gen_config *cfg, ft_source **out, char **err);

/* --- trace readers --- */

typedef enum ft_format {
    FT_FMT_AUTO = 0,    /* sniffed from the first line */
    FT_FMT_AZURE,       /* Azure LLM inference trace, 2023 and 2024 layouts */
    FT_FMT_BURSTGPT,    /* BurstGPT, v1 and v2 (Session ID, Elapsed time) layouts */
    FT_FMT_MOONCAKE,    /* Mooncake JSON lines with hash_ids */
    FT_FMT_CSV,         /* fleetsim's own CSV (what `fleetsim trace convert` writes) */
} ft_format;

/* "azure", "burstgpt", "mooncake", "csv" or "auto"; NULL for other values. */
const char *ft_format_name(ft_format f);
/* The format of a name; -EINVAL when unknown. */
int ft_format_parse(const char *name, ft_format *out);

/* Rows with 0 input or output tokens. */
typedef enum ft_zero_policy {
    FT_ZERO_DEFAULT = 0,/* the format's own: azure ONE, burstgpt SKIP, csv and mooncake ERROR */
    FT_ZERO_SKIP,       /* drop the row, counted in ft_source_info.filtered */
    FT_ZERO_ONE,        /* read 0 as 1 */
    FT_ZERO_ERROR,      /* a bad row */
} ft_zero_policy;

typedef struct ft_trace_opts {
    ft_format format;
    char path[4096];            /* "-" = standard input */
    uint64_t max_requests;      /* the first N requests (0 = all) */
    bool skip_bad_rows;         /* false: the first bad row is an error (the default) */
    ft_zero_policy zeros;
    char model[64];             /* burstgpt: keep only rows of this Model ("" = all) */
    char log_type[64];          /* burstgpt: keep only this Log Type ("" = all) */
    uint32_t block_tokens;      /* mooncake: tokens per hash_ids block (0 = 512) */
} ft_trace_opts;

/*
 * Opens a trace: any format above, streamed in 64 KiB chunks (memory independent of
 * the file's length). Every reader shares these rules:
 *  - A row's problems are reported as "FILE:LINE: expected ..., got '...'": a missing
 *    or extra field, a non-number, a negative or too large token count, a timestamp
 *    earlier than the previous row's, invalid UTF-8, a line over 1 MiB (16 MiB for
 *    JSON lines), a truncated last line. By default the first bad row ends the
 *    workload with an error (sticky: every later call returns it again); with
 *    skip_bad_rows the row is dropped, counted and the first message kept
 *    (ft_source_info.skipped, first_skipped).
 *  - A file that cannot be opened or read, an empty file, an unknown layout or a bad
 *    header fail here (*out NULL), whatever skip_bad_rows says.
 *  - Arrivals: Azure's are shifted so the first row is at 0; the other formats keep
 *    their own origin (seconds or milliseconds from the trace's start).
 *  - Prompts: one segment with a content id unique to the file line, except Mooncake
 *    (one segment per hash_ids block: content = the block id, so prefix sharing is
 *    exact) and csv rows with a prefix group or explicit segments.
 * Format details are in each reader's file comment (azure.c, burstgpt.c, mooncake.c,
 * csvtrace.c).
 */
int ft_trace_open(const ft_trace_opts *o, ft_source **out, char **err);

/*
 * The same from an open stream, which the source takes over (closed by it, also on
 * failure); `name` stands for the file in messages. For pipes and fuzzing.
 */
int ft_trace_fopen(FILE *f, const char *name, const ft_trace_opts *o, ft_source **out,
                   char **err);

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
 * (= ft_trace_open with format azure and default options.)
 */
int ft_azure_open(const char *path, uint64_t max_requests, ft_source **out, char **err);

/* --- ServeGen data (alibaba/ServeGen, data/<category>/<model>/chunk-*) --- */

/*
 * Reads a ServeGen *-trace.csv: no header, one row per window,
 * `window_start_s,rate,cv,family,p1,p2`, family Gamma, Weibull or empty (a silent
 * window, or exponential when its rate is positive). p1 and p2 (the fitted family's
 * own parameters) are not used: the windows are replayed from their rate and cv, the
 * data's own summary. *out is malloc'd (caller frees), *n its length (>= 1).
 * Errors: -errno for the file, -EINVAL naming file:line for a bad row, an empty file or
 * windows out of order.
 */
int ft_servegen_windows(const char *path, ft_rate_window **out, size_t *n, char **err);

/*
 * Reads one PMF of a ServeGen *-dataset.json: a JSON object {window start: {field:
 * "{value: probability, ...}"}} (the inner PMF is a Python dict literal in a string).
 * `field` is e.g. "input_tokens" or "output_tokens"; `window` a window's key, or NULL
 * for the average of all windows that have data (ServeGen writes "{}" for the others). *values and *weights are malloc'd (caller frees),
 * *n >= 1. Errors: -errno for the file, -EINVAL naming the file (and window) otherwise.
 */
int ft_servegen_pmf(const char *path, const char *field, const char *window, double **values,
                    double **weights, size_t *n, char **err);

/* --- writing fleetsim's CSV --- */

typedef struct ft_csv_writer ft_csv_writer;

/*
 * Starts a CSV trace on f (not owned): the header
 *     arrival_s,input_tokens,output_tokens,session,class,priority
 * followed by ",output_content,segments" when `segments` is true, which makes the file
 * a lossless copy of the requests' prompt structure (content ids in hex, segments as
 * "ID:LEN" separated by spaces). Arrival seconds are written with 9 decimals (exact
 * nanoseconds). Returns NULL when out of memory.
 */
ft_csv_writer *ft_csv_writer_new(FILE *f, bool segments);
/* Writes one request; 0 or -EIO (the stream's error). */
int ft_csv_write(ft_csv_writer *w, const ft_request *r);
/* Frees the writer (not the stream); accepts NULL. */
void ft_csv_writer_free(ft_csv_writer *w);

/* --- transforms --- */

/*
 * Transforms applied to any source, in this order: class filter, time window,
 * sampling, shift to zero, speed (or target rate), repetition, limit.
 */
typedef struct ft_transforms {
    uint64_t class_mask;        /* keep requests whose class bit is set (0 = all); cls
                                   outside 0..63 never passes a non-zero mask */
    int64_t window_start_ns;    /* keep arrivals in [start, end) ... */
    int64_t window_end_ns;      /* ... end 0 = no end */
    double sample;              /* keep each request with this probability (0 = 1) */
    uint64_t sample_seed;
    bool start_at_zero;         /* shift arrivals so the first one is at 0 */
    double speed;               /* divide arrival times by this (2 = twice as fast; 0 = 1) */
    double target_rate;         /* or rescale times to this mean rate, requests/s (0 = off);
                                   needs one extra pass over the input to measure it */
    uint32_t repeat;            /* play the input this many times back to back (0 = 1) */
    uint64_t limit;             /* stop after this many requests (0 = no limit) */
} ft_transforms;

/* Opens the untransformed input again (for repetition and target rates). */
typedef int (*ft_opener)(void *ctx, ft_source **out, char **err);

/*
 * Wraps the source that `open(ctx)` returns in the transforms. The wrapper calls
 * `open` again for each repetition and, with target_rate, once more to measure the
 * input's rate (count / span of arrivals after the class filter, window and sampling).
 * ctx must outlive the wrapper; `free_ctx` (may be NULL) is called on it when the
 * wrapper is freed, or here on failure. Repetition k (from 0) is shifted by k x
 * (span + mean gap) and has its content ids re-hashed with k, so copies do not share
 * prefixes with each other; sessions too get new ids. Errors: -EINVAL for a negative
 * or non-finite factor, speed together with target_rate, sample outside (0, 1], a
 * window that ends before it starts, or an input with fewer than 2 requests or no span
 * to measure a rate from; the opener's errors.
 */
int ft_transform_open(const ft_transforms *t, ft_opener open, void *ctx,
                      void (*free_ctx)(void *ctx), ft_source **out, char **err);

/* True when every field is at its neutral value (no wrapper needed). */
bool ft_transforms_identity(const ft_transforms *t);

/* --- statistics of a workload --- */

typedef struct ft_len_stats {
    double mean;
    uint64_t median, p90, p99, max;   /* exact */
} ft_len_stats;

typedef struct ft_stats {
    uint64_t rows;
    double span_s;              /* last arrival - first arrival */
    double mean_rate;           /* rows / span_s (0 when span is 0) */
    double gap_cv;              /* coefficient of variation of inter-arrival gaps */
    uint64_t peak_1s, peak_60s; /* most arrivals in any window of 1 s / 60 s (sliding) */
    ft_len_stats input, output;
    bool prefix_done;           /* the prefix-cache share below was computed */
    double prefix_share;        /* input tokens an unlimited prefix cache would serve */
    uint32_t prefix_block;      /* at this block size (tokens) */
    ft_source_info info;        /* the source's counters at the end (first_skipped NULL) */
} ft_stats;

typedef struct ft_stats_opts {
    uint32_t prefix_block;      /* block size for the prefix share (0 = 16) */
    int prefix;                 /* 1 = always, 0 = never, -1 = when the source shares prefixes */
} ft_stats_opts;

/*
 * Reads the whole source and computes its statistics. Memory is constant in the
 * number of rows except for the prefix share, which keeps a set of every distinct
 * block hash seen (an unlimited cache: a block counts as served when all blocks up to
 * it were seen before, at prefix_block tokens per block; partial last blocks never
 * count, nor blocks past the first 2^18 of a prompt). The source's error, if any, is
 * returned as is.
 */
int ft_stats_compute(ft_source *s, const ft_stats_opts *o, ft_stats *out, char **err);

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

/*
 * A memo of the leading hashes of prompts' first segments, for a caller that hashes
 * many prompts with shared openings at one block size and seed (an engine). The hashes
 * of the blocks lying wholly inside a prompt's first segment depend only on that
 * segment's content id, so up to max_blocks of them are kept per content id in a
 * direct-mapped table of `slots` entries (a power of two) and copied on the next
 * prompt that opens with the same content. Memory: slots x (max_blocks x 8 + 16)
 * bytes. Returns 0, -EINVAL (a zero or non-power-of-two size), -ENOMEM. Not thread-safe:
 * one memo per thread.
 */
typedef struct ft_hash_memo ft_hash_memo;
int ft_hash_memo_new(uint32_t block_size, uint64_t seed, size_t slots, uint32_t max_blocks,
                     ft_hash_memo **out);
/* Frees the memo; accepts NULL. */
void ft_hash_memo_free(ft_hash_memo *m);
/*
 * Exactly ft_block_hashes(segs, nsegs, block_size, seed, out, nblocks_max) with the
 * memo's block size and seed (the same hashes, whatever the memo holds), faster when
 * the first segment's content was hashed before.
 */
size_t ft_block_hashes_memo(ft_hash_memo *m, const ft_segment *segs, size_t nsegs,
                            uint64_t *out, size_t nblocks_max);

#endif
