/*
 * engine.h: one vLLM-like model server (one replica), with vLLM V1 semantics.
 *
 * The engine holds a waiting queue and a running list, forms each step's batch by
 * continuous batching under a token budget (max_num_batched_tokens) and a sequence cap
 * (max_num_seqs) with chunked prefill, keeps KV memory in paged blocks with automatic
 * prefix caching (chained block hashes, reference counts, least-recently-freed
 * eviction), and preempts by recompute when a running request cannot get a block. The
 * rules follow shared/reference/vllm-engine.md §1-§2 (step order, victim = last running
 * request, prefix hits capped at (len-1)/B blocks, head-of-line blocking, reserve full
 * ISL on admission).
 *
 * The engine has no clock and no event queue: the caller asks it to schedule a step,
 * asks a latency model how long that step takes, and tells it when the step completed.
 * So the same code runs under the event queue (the simulator) and in real time (an
 * emulated model server).
 *
 *     fs_engine_add(e, req, now);            // arrival
 *     n = fs_engine_schedule(e, now);        // form the next batch (0 = idle)
 *     t = latency(fs_engine_batch(e), n);    // caller's latency model
 *     fs_engine_complete(e, now + t);        // tokens, finishes, frees
 *
 * Output tokens are not sampled: a request generates exactly max_output tokens (the
 * trace's output length), like ignore_eos in benchmarks.
 *
 * Ownership: requests are caller-allocated (fs_engine_req, typically embedded in a
 * bigger record) and must stay valid until on_finish is called for them; the engine
 * owns the per-request block table it allocates and frees it before on_finish. The
 * prompt segments must stay valid for the same time.
 *
 * Block hashes. A request's token stream is its prompt segments followed by one output
 * segment (output_content, or fs_engine_output_content(id) when that is 0; max_output
 * tokens), hashed once at
 * fs_engine_add() with ft_block_hashes(..., block_size, FS_ENGINE_HASH_SEED, ...). So a
 * router that wants the engine's exact hashes (precise prefix-cache scoring, the
 * on_block_stored/removed events) computes them the same way, and a later turn of a
 * conversation that names the previous answer by fs_engine_output_content() hits the
 * blocks that answer filled.
 *
 * Cost: per running sequence per step a handful of operations (a decode touches the
 * block pool once every block_size tokens); no allocation in schedule or complete.
 * fs_engine_add() allocates the request's hash array and block table once (O(blocks)).
 */
#ifndef FS_ENGINE_H
#define FS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evq.h"
#include "fm_latency.h"
#include "ft_workload.h"

typedef struct fs_engine_config {
    int block_size;                 /* tokens per KV block (vLLM default 16) */
    int64_t num_blocks;             /* usable KV blocks (from fm_kv_size) */
    int max_num_seqs;               /* cap on running requests */
    int max_num_batched_tokens;     /* token budget per step */
    int max_model_len;              /* context window */
    int long_prefill_token_threshold; /* cap on one request's tokens per step; 0 = off */
    bool enable_prefix_caching;
    bool enable_chunked_prefill;
    bool reserve_full_isl;          /* admit only if the whole sequence's blocks fit */
    bool priority_scheduling;       /* false = FCFS */
} fs_engine_config;

/*
 * Sets vLLM's defaults: block 16, 256 seqs, 8192 batched tokens, no long-prefill
 * threshold, prefix caching, chunked prefill and reserve-full-ISL on, FCFS. num_blocks
 * (1) and max_model_len (8192) are placeholders the caller sets from the model and
 * the hardware.
 */
void fs_engine_config_defaults(fs_engine_config *c);

typedef enum fs_req_state {
    FS_REQ_NEW, FS_REQ_WAITING, FS_REQ_RUNNING, FS_REQ_PREEMPTED, FS_REQ_FINISHED
} fs_req_state;

typedef struct fs_engine_req fs_engine_req;

/*
 * Fields are marked public (set by the caller before fs_engine_add()), read-only
 * (maintained by the engine) or private. The fields that every step of a running
 * request reads or writes (schedule, complete, the token callback), the pointer to its
 * hashes and block table and the id of its last block, which a step near a block
 * boundary follows, come first and fill 64 bytes, so a caller that places the record
 * on a 64-byte boundary touches one cache line of it per request per step; with 64
 * replicas stepping in turn the records are out of the caches by the time each step
 * completes.
 */
struct fs_engine_req {
    struct fs_engine_req *next; /* private: waiting or running list link */
    uint32_t prompt_len;        /* public: sum of segment lengths (>= 1) */
    uint32_t max_output;        /* public: tokens to generate (>= 1) */
    uint32_t num_computed;      /* read-only: tokens whose KV is (being) computed */
    uint32_t num_output;        /* read-only: output tokens emitted so far */
    uint32_t sched_tokens;      /* private: tokens scheduled in the current step */
    uint32_t nblocks;           /* private: blocks in the table */
    uint32_t ncached_blocks;    /* private: leading blocks already offered to the cache */
    uint32_t nhashes;           /* private: entries of `hashes` */
    fs_ns last_token;           /* read-only: time of the latest output token */
    uint64_t *hashes;           /* private: chained hashes of the full blocks of prompt+output
                                   that can ever be cached, then the block table (cap_blocks
                                   ids at hashes + nhashes), in one malloc */
    int32_t tail_block;         /* private: blocks[nblocks - 1] while nblocks > 0 */
    int priority;               /* public */

    /* public */
    void *user;                 /* caller's back pointer */
    uint64_t id;
    const ft_segment *segs;     /* prompt description */
    uint32_t nsegs;
    uint32_t external_tokens;   /* prompt tokens whose KV arrives from a remote prefill
                                   (P/D): admitted as computed, < prompt_len; 0 = none */
    uint64_t output_content;    /* content id of the output segment; 0 = the default,
                                   fs_engine_output_content(id) */

    /* read-only */
    fs_req_state state;
    fs_ns arrival;              /* when fs_engine_add() was called */
    fs_ns first_scheduled;      /* -1 until first scheduled */
    fs_ns first_token;          /* -1 until the first output token */
    uint32_t num_cached;        /* prompt tokens served from the prefix cache at first admission */
    uint32_t preemptions;

    /* private */
    struct fs_engine_req *prev; /* waiting or running list link */
    uint32_t cap_blocks;        /* the most blocks the request can ever hold */
    uint64_t seq_no;            /* arrival order at this engine, for priority ties */
};

#define FS_ENGINE_REQ_HOT 64    /* bytes of the per-step fields at the start (see above) */

/* Callbacks from fs_engine_complete() and preemptions; any member may be NULL. */
typedef struct fs_engine_observer {
    void *ctx;
    /* An output token of r at time now; r->num_output already counts it. */
    void (*on_token)(void *ctx, fs_engine_req *r, fs_ns now);
    /* r finished at now; the engine no longer references r or its segments. */
    void (*on_finish)(void *ctx, fs_engine_req *r, fs_ns now);
    /* r was preempted (its blocks freed, back to the front of the waiting queue). */
    void (*on_preempt)(void *ctx, fs_engine_req *r, fs_ns now);
    /* A full block with this hash entered / left the prefix cache (for precise routing). */
    void (*on_block_stored)(void *ctx, uint64_t hash);
    void (*on_block_removed)(void *ctx, uint64_t hash);
    /* r's first output token, at now (its first_token); before on_token. */
    void (*on_first_token)(void *ctx, fs_engine_req *r, fs_ns now);
    /* The later tokens, for inter-token latency without a call per token: `count`
     * consecutive tokens (in completion order) came `gap` ns after their request's
     * previous token. Runs are maximal within one fs_engine_complete() call and all
     * reported before it returns; the next call may start with the same gap. */
    void (*on_token_gaps)(void *ctx, fs_ns gap, uint64_t count);
} fs_engine_observer;

typedef struct fs_engine fs_engine;

/* Seed of the engine's chained block hashes (see "Block hashes" above). */
#define FS_ENGINE_HASH_SEED UINT64_C(0)

/* Content id of request id's output segment (see "Block hashes" above). */
uint64_t fs_engine_output_content(uint64_t id);

/* Counters for metrics and for /metrics-style snapshots. */
typedef struct fs_engine_stats {
    int waiting;                /* waiting + preempted requests */
    int running;                /* running requests, partial prefills included */
    int64_t blocks_total;       /* usable blocks */
    int64_t blocks_free;        /* free blocks, cached-but-unreferenced included */
    int64_t blocks_cached;      /* blocks that carry a hash (referenced or not) */
    double kv_usage;            /* 1 - free/total, as vllm:kv_cache_usage_perc */
    uint64_t steps;
    uint64_t preemptions;
    uint64_t prefix_queries;    /* prompt tokens looked up */
    uint64_t prefix_hits;       /* prompt tokens found */
    uint64_t prompt_tokens_computed; /* prompt tokens computed (recomputation included) */
    uint64_t output_tokens;
    uint64_t tokens_computed;   /* all tokens of all completed steps */
    uint64_t finished;          /* requests finished */
} fs_engine_stats;

/* A new engine; fails with -EINVAL (message) for an invalid config, -ENOMEM. */
int fs_engine_new(const fs_engine_config *cfg, const fs_engine_observer *obs,
                  fs_engine **out, char **err);
/* Frees the engine; requests still inside are abandoned (no callbacks). Accepts NULL. */
void fs_engine_free(fs_engine *e);

/*
 * Queues request r (public fields set, state FS_REQ_NEW as in a zeroed struct; the
 * segment lengths must sum to prompt_len) at time now. Returns 0, or -EINVAL when r
 * cannot ever run (an empty prompt or output, prompt + output exceeds max_model_len or
 * its longest sequence needs more blocks than the whole KV cache): the caller counts
 * it as rejected. -ENOMEM when out of memory. On error r is untouched.
 */
int fs_engine_add(fs_engine *e, fs_engine_req *r, fs_ns now);

/*
 * Forms the next step's batch at time now (vLLM's schedule(): running requests first,
 * preempting the last running one when blocks run out; then admissions from the
 * waiting head unless that preempted). Returns the number of scheduled sequences. 0
 * happens only when the engine is idle (every waiting request can run alone, so
 * something always fits); then no step is in progress. After a non-zero return the
 * caller must call fs_engine_complete() before scheduling again. May call on_preempt.
 */
size_t fs_engine_schedule(fs_engine *e, fs_ns now);
/* The current batch's composition, valid until the next schedule/complete. */
const fm_seq_work *fs_engine_batch(const fs_engine *e, size_t *n);
/* Tokens scheduled in the current batch. */
uint32_t fs_engine_batch_tokens(const fs_engine *e);

/*
 * Applies the scheduled step's results at time now: every request whose chunk reached
 * the end of its sequence emits one token (on_token); one that reaches max_output
 * finishes (blocks freed tail first, on_finish). Partial prefill chunks emit nothing.
 * Requires a step in progress (asserted). Afterwards the batch is empty.
 */
void fs_engine_complete(fs_engine *e, fs_ns now);

/* True when a step has been scheduled and not yet completed. */
bool fs_engine_busy(const fs_engine *e);
/* True when no request is waiting or running. */
bool fs_engine_idle(const fs_engine *e);
void fs_engine_get_stats(const fs_engine *e, fs_engine_stats *out);
const fs_engine_config *fs_engine_get_config(const fs_engine *e);

/*
 * Checks every invariant (block accounting: free + used-by-requests accounts for every
 * block exactly once; reference counts equal holders; hash index matches blocks; queue
 * states). Returns 0 or -EINVAL with a message. O(blocks + requests): for tests.
 */
int fs_engine_check(const fs_engine *e, char **err);

#endif
