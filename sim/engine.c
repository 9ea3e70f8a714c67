/*
 * engine.c: one vLLM V1-like model server (see engine.h), the hot loop of a run.
 *
 * Workload assumed: chat-like traffic (about 1000 prompt and 200 output tokens), up to
 * max_num_seqs (hundreds) running and any number waiting, and a target of 100,000
 * simulated requests per wall-clock second on one core, that is some 20 million
 * sequence-steps per second. So a step costs a handful of operations per running
 * sequence: the running and waiting queues are intrusive doubly linked lists, the
 * batch arrays are sized to max_num_seqs once, block hashes are computed once per
 * request at fs_engine_add() (the blocks of a shared first segment copied from a memo,
 * ft_hash_memo) and the block table is allocated there at the most the
 * request can ever hold, so scheduling and completion never allocate and a decode
 * goes to the block pool once every block_size tokens.
 *
 * Rules (shared/reference/vllm-engine.md §1-§2), in step order:
 *   A. running requests in admission order get min(remaining, threshold, budget,
 *      max_model_len - 1 - computed) tokens; when the blocks do not fit, the last
 *      running request (priority mode: max (priority, arrival)) is preempted by
 *      recompute until they fit or the request itself was the victim (then phase A
 *      stops).
 *   B. only when A preempted nobody: admissions from the waiting head while budget and
 *      sequence slots remain, with a prefix lookup capped at (len - 1) / B blocks,
 *      chunked prefill, the reserve-full-ISL check and head-of-line blocking.
 *   C. num_computed += n at once; full blocks are cached when scheduled.
 * Completion emits one token for each request whose chunk reached the end of its
 * sequence, and finishes those at max_output.
 *
 * Rejected alternatives: growing the block table geometrically (the most a request
 * can hold is known at arrival, so one exact allocation is smaller and never moves);
 * hashing blocks when they fill (a hash per block per step on the hot path, while
 * ft_block_hashes does the whole request in one O(blocks) pass); a heap for the
 * priority waiting queue (arrivals are in time order, so inserting from the tail of a
 * sorted list is O(1) for them; only preempted requests walk, and FCFS, the default,
 * never does).
 */
#include "engine.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "fu_yaml.h"   /* fu_asprintf */
#include "kvcache.h"

typedef struct req_list {
    fs_engine_req *head, *tail;
    int n;
} req_list;

struct fs_engine {
    fs_engine_config cfg;
    fs_engine_observer obs;
    fs_kv *kv;
    req_list waiting;   /* FCFS: arrival order, preempted at the front; else sorted */
    req_list running;   /* admission order */
    /* the current batch: sched[i] computes batch[i] */
    fm_seq_work *batch;
    fs_engine_req **sched;
    size_t nbatch;
    uint32_t batch_tokens;
    bool busy;
    /* scratch, grown at fs_engine_add() only */
    int32_t *hits;          /* prefix-hit blocks of the request being admitted */
    size_t cap_hits;
    ft_segment *segs;       /* prompt + output segments, for hashing */
    size_t cap_segs;
    ft_hash_memo *memo;     /* leading hashes of shared first segments */
    uint64_t next_seq;
    fs_ns gap_run;          /* the gap of the token run being counted (on_token_gaps) */
    uint64_t gap_count;     /* tokens in it; reported at the end of each completion */
    fs_engine_stats st;     /* counters; the gauges are filled in by get_stats */
};

/*
 * The hash memo (ft_hash_memo): 64 first segments of up to 128 blocks (2,048 tokens at
 * block 16), 64 KiB per engine. An engine behind a prefix-aware router sees a few
 * dozen shared prefixes at a time; a miss costs the ordinary hashing plus one copy.
 */
enum { MEMO_SLOTS = 64, MEMO_BLOCKS = 128 };

/* Salt of the output segment's content id: "fs-out\0\0" read as an integer. */
#define OUTPUT_SALT UINT64_C(0x74756f2d7366)

uint64_t fs_engine_output_content(uint64_t id)
{
    return XXH64(&id, sizeof id, OUTPUT_SALT);
}

/* ---------------------------------------------------------------- lists */

static void list_insert_before(req_list *l, fs_engine_req *pos, fs_engine_req *r)
{
    r->next = pos;
    r->prev = pos ? pos->prev : l->tail;
    if (r->prev)
        r->prev->next = r;
    else
        l->head = r;
    if (pos)
        pos->prev = r;
    else
        l->tail = r;
    l->n++;
}

static void list_remove(req_list *l, fs_engine_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    l->n--;
}

/* Priority order: (priority, arrival, seq_no), lower first, as vLLM's Request.__lt__. */
static bool runs_before(const fs_engine_req *a, const fs_engine_req *b)
{
    if (a->priority != b->priority)
        return a->priority < b->priority;
    if (a->arrival != b->arrival)
        return a->arrival < b->arrival;
    return a->seq_no < b->seq_no;
}

/* Sorted insertion from the tail: O(1) for arrivals in time order. */
static void waiting_insert_sorted(req_list *l, fs_engine_req *r)
{
    fs_engine_req *pos = l->tail;
    while (pos && runs_before(r, pos))
        pos = pos->prev;
    list_insert_before(l, pos ? pos->next : l->head, r);
}

/* A new or preempted request joins the waiting queue. */
static void waiting_push(fs_engine *e, fs_engine_req *r, bool front)
{
    if (e->cfg.priority_scheduling)
        waiting_insert_sorted(&e->waiting, r);
    else
        list_insert_before(&e->waiting, front ? e->waiting.head : NULL, r);
}

/* ---------------------------------------------------------------- config, life cycle */

void fs_engine_config_defaults(fs_engine_config *c)
{
    memset(c, 0, sizeof *c);
    c->block_size = 16;
    c->num_blocks = 1;
    c->max_num_seqs = 256;
    c->max_num_batched_tokens = 8192;
    c->max_model_len = 8192;
    c->long_prefill_token_threshold = 0;
    c->enable_prefix_caching = true;
    c->enable_chunked_prefill = true;
    c->reserve_full_isl = true;
    c->priority_scheduling = false;
}

static int invalid(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* 0, or -EINVAL with a message naming the offending field. */
static int check_config(const fs_engine_config *c, char **err)
{
    if (c->block_size < 1)
        return invalid(err, fu_asprintf("engine: block_size must be >= 1, got %d", c->block_size));
    if (c->num_blocks < 1 || c->num_blocks >= INT32_MAX)
        return invalid(err, fu_asprintf("engine: num_blocks must be in 1..%d, got %lld",
                                        INT32_MAX - 1, (long long)c->num_blocks));
    if (c->max_num_seqs < 1)
        return invalid(err, fu_asprintf("engine: max_num_seqs must be >= 1, got %d", c->max_num_seqs));
    if (c->max_num_batched_tokens < 1)
        return invalid(err, fu_asprintf("engine: max_num_batched_tokens must be >= 1, got %d",
                                        c->max_num_batched_tokens));
    if (c->max_model_len < 2)
        return invalid(err, fu_asprintf("engine: max_model_len must be >= 2, got %d", c->max_model_len));
    if (c->long_prefill_token_threshold < 0)
        return invalid(err, fu_asprintf("engine: long_prefill_token_threshold must be >= 0, got %d",
                                        c->long_prefill_token_threshold));
    /* vLLM refuses this too: without chunking a prompt longer than the budget never runs */
    if (!c->enable_chunked_prefill && c->max_num_batched_tokens < c->max_model_len)
        return invalid(err, fu_asprintf("engine: without chunked prefill max_num_batched_tokens "
                                        "(%d) must be >= max_model_len (%d)",
                                        c->max_num_batched_tokens, c->max_model_len));
    return 0;
}

int fs_engine_new(const fs_engine_config *cfg, const fs_engine_observer *obs,
                  fs_engine **out, char **err)
{
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc)
        return rc;
    fs_engine *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->cfg = *cfg;
    if (obs)
        e->obs = *obs;
    fs_kv_hooks hooks = { e->obs.ctx, e->obs.on_block_stored, e->obs.on_block_removed };
    e->batch = malloc((size_t)cfg->max_num_seqs * sizeof *e->batch);
    e->sched = malloc((size_t)cfg->max_num_seqs * sizeof *e->sched);
    if (!e->batch || !e->sched || fs_kv_new(cfg->num_blocks, &hooks, &e->kv) != 0 ||
        ft_hash_memo_new((uint32_t)cfg->block_size, FS_ENGINE_HASH_SEED, MEMO_SLOTS,
                         MEMO_BLOCKS, &e->memo) != 0) {
        fs_engine_free(e);
        if (err)
            *err = fu_asprintf("engine: out of memory");
        return -ENOMEM;
    }
    *out = e;
    return 0;
}

/* The block table of r, a request the engine holds (fs_engine_add allocated it): it
 * follows the hashes in their allocation, reached through the hot line's pointer. */
static inline int32_t *req_blocks(const fs_engine_req *r)
{
    return (int32_t *)(r->hashes + r->nhashes);
}

/* Releases what the engine allocated for r (its hash array and block table). */
static void drop_request_memory(fs_engine_req *r)
{
    free(r->hashes);
    r->hashes = NULL;
    r->nhashes = r->cap_blocks = r->nblocks = r->ncached_blocks = 0;
}

static void abandon_all(req_list *l)
{
    for (fs_engine_req *r = l->head, *next; r; r = next) {
        next = r->next;
        drop_request_memory(r);
    }
}

void fs_engine_free(fs_engine *e)
{
    if (!e)
        return;
    abandon_all(&e->waiting);
    abandon_all(&e->running);
    fs_kv_free(e->kv);
    free(e->batch);
    free(e->sched);
    free(e->hits);
    free(e->segs);
    ft_hash_memo_free(e->memo);
    free(e);
}

/* ---------------------------------------------------------------- arrival */

/* Grows a scratch array to at least n elements of size sz (geometrically); 0 or -ENOMEM. */
static int reserve(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < n)
        c *= 2;
    void *q = realloc(*p, c * sz);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Hashes r's prompt + output segments into r->hashes (nh blocks). 0 or -ENOMEM. */
static int hash_request(fs_engine *e, fs_engine_req *r, uint32_t nh)
{
    if (reserve((void **)&e->segs, &e->cap_segs, (size_t)r->nsegs + 1, sizeof *e->segs))
        return -ENOMEM;
    if (r->nsegs)
        memcpy(e->segs, r->segs, r->nsegs * sizeof *e->segs);
    uint64_t out = r->output_content ? r->output_content : fs_engine_output_content(r->id);
    e->segs[r->nsegs] = (ft_segment){ out, r->max_output };
    size_t got = ft_block_hashes_memo(e->memo, e->segs, (size_t)r->nsegs + 1, r->hashes, nh);
    assert(got == nh);
    (void)got;
    return 0;
}

/*
 * Allocates r's hash array and block table in one piece: the most tokens r ever holds
 * in KV is prompt + max_output - 1 (its last token is emitted, never computed), so the
 * table needs ceil of that over B and the cacheable full blocks are floor of it.
 */
static int alloc_request_memory(fs_engine *e, fs_engine_req *r)
{
    uint32_t B = (uint32_t)e->cfg.block_size;
    uint32_t longest = r->prompt_len + r->max_output - 1;
    uint32_t cap = (longest + B - 1) / B;
    uint32_t nh = e->cfg.enable_prefix_caching ? longest / B : 0;
    if (reserve((void **)&e->hits, &e->cap_hits, nh, sizeof *e->hits))
        return -ENOMEM;
    uint64_t *mem = malloc((size_t)nh * sizeof *mem + (size_t)cap * sizeof(int32_t));
    if (!mem)
        return -ENOMEM;
    r->hashes = mem;
    r->nhashes = nh;
    r->cap_blocks = cap;
    if (nh && hash_request(e, r, nh)) {
        drop_request_memory(r);
        return -ENOMEM;
    }
    return 0;
}

/* -EINVAL when r could never run on this engine. */
static int check_request(const fs_engine *e, const fs_engine_req *r)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < r->nsegs; i++)
        sum += r->segs[i].len;
    assert(sum == r->prompt_len && "segments must sum to prompt_len");
    (void)sum;
    if (r->prompt_len < 1 || r->max_output < 1 || r->external_tokens >= r->prompt_len)
        return -EINVAL;
    uint64_t full = (uint64_t)r->prompt_len + r->max_output;
    if (full > (uint64_t)e->cfg.max_model_len)
        return -EINVAL;
    uint64_t blocks = (full - 1 + (uint64_t)e->cfg.block_size - 1) / (uint64_t)e->cfg.block_size;
    return blocks > (uint64_t)e->cfg.num_blocks ? -EINVAL : 0;
}

int fs_engine_add(fs_engine *e, fs_engine_req *r, fs_ns now)
{
    assert(r->state == FS_REQ_NEW && (r->segs || r->nsegs == 0));
    int rc = check_request(e, r);
    if (rc == 0)
        rc = alloc_request_memory(e, r);
    if (rc)
        return rc;
    r->arrival = now;
    r->first_scheduled = r->first_token = r->last_token = -1;
    r->num_computed = r->num_output = r->num_cached = r->preemptions = 0;
    r->sched_tokens = r->nblocks = r->ncached_blocks = 0;
    r->seq_no = e->next_seq++;
    r->state = FS_REQ_WAITING;
    waiting_push(e, r, false);
    return 0;
}

/* ---------------------------------------------------------------- blocks of a request */

/*
 * The per-token helpers of the schedule and completion loops are inlined into them
 * (GCC otherwise calls several of them, and a call's register saves cost as much as
 * the work of a decode step); their rare slow paths stay out of line.
 */
#define HOT static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline))

COLD void cache_blocks(fs_engine *e, fs_engine_req *r, uint32_t upto)
{
    uint32_t B = (uint32_t)e->cfg.block_size;
    uint32_t full = upto / B < r->nhashes ? upto / B : r->nhashes;
    fs_kv_cache_run(e->kv, req_blocks(r) + r->ncached_blocks, r->hashes + r->ncached_blocks,
                    full - r->ncached_blocks);
    r->ncached_blocks = full;
}

/* Offers r's newly full blocks among its first `upto` tokens to the prefix cache. */
HOT void cache_full_blocks(fs_engine *e, fs_engine_req *r, uint32_t upto)
{
    uint32_t B = (uint32_t)e->cfg.block_size;
    if (r->ncached_blocks >= r->nhashes || (r->ncached_blocks + 1) * B > upto)
        return;   /* the common case: a decode that did not fill a block */
    cache_blocks(e, r, upto);
}

/* Appends fresh blocks to r's table until it covers `total` tokens (fit checked). */
static void grow_table(fs_engine *e, fs_engine_req *r, uint32_t total)
{
    uint32_t B = (uint32_t)e->cfg.block_size;
    uint32_t want = (total + B - 1) / B;
    assert(want <= r->cap_blocks);
    int32_t *blocks = req_blocks(r);
    while (r->nblocks < want)
        blocks[r->nblocks++] = fs_kv_pop(e->kv);
    if (r->nblocks)
        r->tail_block = blocks[r->nblocks - 1];
}

/* vLLM's allocate_slots for a running request: false when the blocks do not fit. */
HOT bool alloc_running(fs_engine *e, fs_engine_req *r, uint32_t n)
{
    uint32_t B = (uint32_t)e->cfg.block_size;
    uint32_t total = r->num_computed + n;
    if (total > r->nblocks * B) {
        int64_t need = (int64_t)((total + B - 1) / B) - r->nblocks;
        if (need > fs_kv_num_free(e->kv))
            return false;
        grow_table(e, r, total);
    }
    cache_full_blocks(e, r, total);
    return true;
}

static void release_blocks(fs_engine *e, fs_engine_req *r)
{
    fs_kv_release(e->kv, req_blocks(r), r->nblocks);
    r->nblocks = r->ncached_blocks = 0;
}

/* ---------------------------------------------------------------- batch */

/* Schedules n tokens of r in this step; num_computed moves at once (phase C). */
HOT void add_to_batch(fs_engine *e, fs_engine_req *r, uint32_t n, uint32_t *budget)
{
    assert(e->nbatch < (size_t)e->cfg.max_num_seqs);
    e->batch[e->nbatch] = (fm_seq_work){ n, r->num_computed };
    e->sched[e->nbatch++] = r;
    r->num_computed += n;
    r->sched_tokens = n;
    e->batch_tokens += n;
    *budget -= n;
}

/* Priority mode may preempt a request already scheduled this step: undo its entry. */
static void remove_from_batch(fs_engine *e, fs_engine_req *v, uint32_t *budget)
{
    for (size_t i = 0; i < e->nbatch; i++) {
        if (e->sched[i] != v)
            continue;
        *budget += e->batch[i].new_tokens;
        e->batch_tokens -= e->batch[i].new_tokens;
        memmove(&e->batch[i], &e->batch[i + 1], (e->nbatch - i - 1) * sizeof *e->batch);
        memmove(&e->sched[i], &e->sched[i + 1], (e->nbatch - i - 1) * sizeof *e->sched);
        e->nbatch--;
        v->sched_tokens = 0;
        return;
    }
}

/* ---------------------------------------------------------------- phase A: running */

static fs_engine_req *pick_victim(const fs_engine *e)
{
    if (!e->cfg.priority_scheduling)
        return e->running.tail;
    fs_engine_req *v = e->running.head;
    for (fs_engine_req *r = v->next; r; r = r->next)
        if (r->priority > v->priority ||
            (r->priority == v->priority && r->arrival > v->arrival))
            v = r;
    return v;
}

/* Preemption by recompute: blocks freed, back to the front of the waiting queue. */
static void preempt(fs_engine *e, fs_engine_req *v, fs_ns now, uint32_t *budget)
{
    if (v->sched_tokens)
        remove_from_batch(e, v, budget);
    list_remove(&e->running, v);
    release_blocks(e, v);
    v->num_computed = 0;
    v->state = FS_REQ_PREEMPTED;
    v->preemptions++;
    e->st.preemptions++;
    waiting_push(e, v, true);
    if (e->obs.on_preempt)
        e->obs.on_preempt(e->obs.ctx, v, now);
}

/* Tokens a running request asks for this step (0 = skip it). */
HOT uint32_t running_tokens(const fs_engine *e, const fs_engine_req *r, uint32_t budget)
{
    uint32_t n = r->prompt_len + r->num_output - r->num_computed;
    uint32_t thr = (uint32_t)e->cfg.long_prefill_token_threshold;
    uint32_t room = (uint32_t)e->cfg.max_model_len - 1 - r->num_computed;
    if (thr && n > thr)
        n = thr;
    if (n > budget)
        n = budget;
    return n < room ? n : room;
}

/* Allocates for r, preempting victims; false when r itself was preempted. */
static bool make_room(fs_engine *e, fs_engine_req *r, uint32_t n, fs_ns now,
                      uint32_t *budget, bool *preempted)
{
    while (!alloc_running(e, r, n)) {
        fs_engine_req *v = pick_victim(e);
        preempt(e, v, now, budget);
        *preempted = true;
        if (v == r)
            return false;
    }
    return true;
}

/* Phase A; returns true when it preempted anyone. */
static bool schedule_running(fs_engine *e, fs_ns now, uint32_t *budget)
{
    bool preempted = false;
    for (fs_engine_req *r = e->running.head; r && *budget > 0; r = r->next) {
        uint32_t n = running_tokens(e, r, *budget);
        if (n == 0)
            continue;
        if (!make_room(e, r, n, now, budget, &preempted))
            break;
        add_to_batch(e, r, n, budget);
    }
    return preempted;
}

/* ---------------------------------------------------------------- phase B: admission */

/*
 * Prefix lookup of a waiting request: the leading run of its block hashes found in
 * the cache, at most (num_tokens - 1) / B blocks, into e->hits. Statistics count every
 * lookup of a never-preempted request, including a head-of-line request that then
 * fails to fit and is looked up again next step: vLLM v0.19 counts the same way.
 */
static uint32_t lookup_prefix(fs_engine *e, const fs_engine_req *r, uint32_t num_tokens)
{
    if (!e->cfg.enable_prefix_caching)
        return 0;
    uint32_t cap = (num_tokens - 1) / (uint32_t)e->cfg.block_size;
    assert(cap <= r->nhashes);
    uint32_t k = (uint32_t)fs_kv_find_run(e->kv, r->hashes, cap, e->hits);
    if (r->preemptions == 0) {
        e->st.prefix_queries += num_tokens;
        e->st.prefix_hits += (uint64_t)k * (uint32_t)e->cfg.block_size;
    }
    return k;
}

/* Do `total` tokens fit, holding nhit hit blocks of which nhit_free sit in the free queue? */
static bool admission_fits(const fs_engine *e, uint32_t total, uint32_t nhit, uint32_t nhit_free)
{
    uint32_t B = (uint32_t)e->cfg.block_size;
    int64_t need = (int64_t)((total + B - 1) / B) - nhit + nhit_free;
    return need <= fs_kv_num_free(e->kv);
}

/* Takes the hit blocks, then fresh ones up to `total` tokens, and caches full blocks. */
static void take_blocks(fs_engine *e, fs_engine_req *r, uint32_t nhit, uint32_t total)
{
    /* The first registrations' index slots and the first fresh blocks load while the
     * hits are taken (fs_kv_cache_run and the pops keep ahead of the rest). */
    enum { SLOTS_AHEAD = 8 };
    uint32_t B = (uint32_t)e->cfg.block_size, full = total / B, want = (total + B - 1) / B;
    full = full < r->nhashes ? full : r->nhashes;
    if (full > nhit)
        fs_kv_prefetch_index(e->kv, r->hashes + nhit,
                             full - nhit < SLOTS_AHEAD ? full - nhit : SLOTS_AHEAD);
    if (want > nhit)
        fs_kv_prefetch_pops(e->kv, want - nhit);
    int32_t *blocks = req_blocks(r);
    for (uint32_t i = 0; i < nhit; i++) {
        fs_kv_touch(e->kv, e->hits[i]);
        blocks[i] = e->hits[i];
    }
    r->nblocks = r->ncached_blocks = nhit;
    grow_table(e, r, total);
    cache_full_blocks(e, r, total);
}

/* Moves an admitted request to running with its first `start` tokens computed, of
 * which `cached` came from the local prefix cache. */
static void start_running(fs_engine *e, fs_engine_req *r, uint32_t start, uint32_t cached,
                          fs_ns now)
{
    list_remove(&e->waiting, r);
    list_insert_before(&e->running, NULL, r);
    r->state = FS_REQ_RUNNING;
    r->num_computed = start;
    if (r->first_scheduled < 0) {
        r->first_scheduled = now;
        r->num_cached = cached;
    }
}

/* The first chunk of an admission (0 = it does not fit the budget unchunked). */
static uint32_t admission_tokens(const fs_engine *e, uint32_t left, uint32_t budget)
{
    uint32_t thr = (uint32_t)e->cfg.long_prefill_token_threshold;
    if (thr && left > thr)
        left = thr;
    if (left > budget && !e->cfg.enable_chunked_prefill)
        return 0;
    return left < budget ? left : budget;
}

/* Tries to admit the waiting head; false = stop admitting this step. */
static bool admit(fs_engine *e, fs_engine_req *r, fs_ns now, uint32_t *budget)
{
    uint32_t num_tokens = r->prompt_len + r->num_output;
    uint32_t nhit = lookup_prefix(e, r, num_tokens);
    uint32_t cached = nhit * (uint32_t)e->cfg.block_size, start = cached;
    /* KV received from a remote prefill counts as computed, as vLLM's KV connector
     * does, but only at first admission: a preempted request recomputes locally. */
    if (r->preemptions == 0 && r->external_tokens > start)
        start = r->external_tokens;
    uint32_t n = admission_tokens(e, num_tokens - start, *budget);
    if (n == 0)
        return false;
    uint32_t nhit_free = 0;
    for (uint32_t i = 0; i < nhit; i++)
        nhit_free += fs_kv_ref(e->kv, e->hits[i]) == 0;
    if (e->cfg.reserve_full_isl && !admission_fits(e, num_tokens, nhit, nhit_free))
        return false;
    if (!admission_fits(e, start + n, nhit, nhit_free))
        return false;
    take_blocks(e, r, nhit, start + n);
    start_running(e, r, start, cached, now);
    add_to_batch(e, r, n, budget);
    return true;
}

static void schedule_waiting(fs_engine *e, fs_ns now, uint32_t *budget)
{
    while (e->waiting.head && *budget > 0 && e->running.n < e->cfg.max_num_seqs)
        if (!admit(e, e->waiting.head, now, budget))
            return;
}

/* One scheduling pass (phases A and B); returns true when it preempted anyone. */
static bool schedule_pass(fs_engine *e, fs_ns now)
{
    uint32_t budget = (uint32_t)e->cfg.max_num_batched_tokens;
    e->nbatch = 0;
    e->batch_tokens = 0;
    if (schedule_running(e, now, &budget))
        return true;
    schedule_waiting(e, now, &budget);
    return false;
}

size_t fs_engine_schedule(fs_engine *e, fs_ns now)
{
    assert(!e->busy && "fs_engine_schedule: the previous step was not completed");
    /*
     * In priority mode the request that needs blocks can be its own victim before
     * anything was scheduled: vLLM then runs an empty step and schedules again from
     * the same state, which is the next pass here (no time passes in between). Each
     * such pass leaves fewer requests running, so the loop ends. Under FCFS the victim
     * is the last running request, so a pass that preempts has scheduled the ones
     * before it, and a lone request always fits: one pass is all it takes.
     */
    while (schedule_pass(e, now) && e->nbatch == 0 && !fs_engine_idle(e))
        ;
    assert((e->nbatch > 0 || fs_engine_idle(e)) && "an engine with requests must step");
    if (e->nbatch) {
        e->busy = true;
        e->st.steps++;
    }
    return e->nbatch;
}

const fm_seq_work *fs_engine_batch(const fs_engine *e, size_t *n)
{
    if (n)
        *n = e->nbatch;
    return e->batch;
}

uint32_t fs_engine_batch_tokens(const fs_engine *e)
{
    return e->batch_tokens;
}

/* ---------------------------------------------------------------- completion */

static void finish(fs_engine *e, fs_engine_req *r, fs_ns now)
{
    list_remove(&e->running, r);
    release_blocks(e, r);
    drop_request_memory(r);
    r->state = FS_REQ_FINISHED;
    e->st.finished++;
    if (e->obs.on_finish)
        e->obs.on_finish(e->obs.ctx, r, now);
}

/* Reports the run of equal gaps counted so far (see on_token_gaps). */
static void flush_gaps(fs_engine *e)
{
    if (e->gap_count)
        e->obs.on_token_gaps(e->obs.ctx, e->gap_run, e->gap_count);
    e->gap_count = 0;
}

HOT void emit_token(fs_engine *e, fs_engine_req *r, fs_ns now)
{
    r->num_output++;
    e->st.output_tokens++;
    if (r->num_output == 1) {   /* outputs never un-count (preemption keeps them) */
        r->first_token = now;
        if (e->obs.on_first_token)
            e->obs.on_first_token(e->obs.ctx, r, now);
    } else if (e->obs.on_token_gaps) {
        fs_ns gap = now - r->last_token;
        if (gap != e->gap_run) {
            flush_gaps(e);
            e->gap_run = gap;
        }
        e->gap_count++;
    }
    r->last_token = now;
    if (e->obs.on_token)
        e->obs.on_token(e->obs.ctx, r, now);
    if (r->num_output == r->max_output)
        finish(e, r, now);
}

/* Counts the step's work: all tokens, and the part of each chunk inside the prompt. */
HOT void account(fs_engine *e, const fm_seq_work *w, const fs_engine_req *r)
{
    e->st.tokens_computed += w->new_tokens;
    if (w->context < r->prompt_len) {
        uint32_t end = w->context + w->new_tokens;
        e->st.prompt_tokens_computed += (end < r->prompt_len ? end : r->prompt_len) - w->context;
    }
}

_Static_assert(offsetof(fs_engine_req, priority) + sizeof(int) == FS_ENGINE_REQ_HOT,
               "the per-step fields of fs_engine_req fill its first FS_ENGINE_REQ_HOT bytes");

/* Starts loading the per-step fields of a request record (one line, or two when the
 * caller does not align it). */
static void prefetch_req(const fs_engine_req *r)
{
    const char *p = (const char *)r;
    __builtin_prefetch(p, 1);
    __builtin_prefetch(p + FS_ENGINE_REQ_HOT - 1, 1);
}

/*
 * r emitted a token and runs on, so its next step decodes one token, and the schedule
 * that follows at once may pop a block for it (when that token starts a block) and
 * register the block it fills. Each of those is a miss on a line last touched a dozen
 * or more steps ago (the block table, the hash, the index slot, the block), several
 * of them dependent, so they are loaded in two stages: the table and hash lines when
 * the block fills in two steps, the slot and the block when it fills in one. Counts
 * the pops into *pops. Hints only: nothing here changes what the schedule does.
 */
static void prefetch_next_decode(fs_engine *e, const fs_engine_req *r, uint32_t *pops)
{
    uint32_t B = (uint32_t)e->cfg.block_size, nc = r->ncached_blocks;
    uint32_t next = r->num_computed + 1;   /* tokens computed after the next step */
    const int32_t *blocks = req_blocks(r);
    if (nc < r->nhashes) {
        uint32_t full = (nc + 1) * B;        /* tokens when block nc is full */
        if (full <= next && nc < r->nblocks) {
            fs_kv_prefetch_index(e->kv, &r->hashes[nc], 1);
            /* a decode fills its last block: its id is in the hot line */
            fs_kv_prefetch_block(e->kv, nc + 1 == r->nblocks ? r->tail_block : blocks[nc]);
        } else if (full == next + 1) {
            __builtin_prefetch(&r->hashes[nc]);
            __builtin_prefetch(&blocks[nc]);
        }
    }
    if (next > r->nblocks * B) {
        __builtin_prefetch(&blocks[r->nblocks], 1);
        (*pops)++;
    }
}

/*
 * With 64 replicas stepping in turn, a replica's requests have left the caches by the
 * time its step completes, so their records load a few batch entries ahead.
 */
void fs_engine_complete(fs_engine *e, fs_ns now)
{
    enum { REQ_AHEAD = 4 };
    assert(e->busy && "fs_engine_complete: no step in progress");
    for (size_t i = 0; i < e->nbatch && i < REQ_AHEAD; i++)
        prefetch_req(e->sched[i]);
    uint32_t pops = 0;
    for (size_t i = 0; i < e->nbatch; i++) {
        fs_engine_req *r = e->sched[i];
        if (i + REQ_AHEAD < e->nbatch)
            prefetch_req(e->sched[i + REQ_AHEAD]);
        account(e, &e->batch[i], r);
        r->sched_tokens = 0;
        if (r->num_computed == r->prompt_len + r->num_output) {
            if (r->num_output + 1 < r->max_output)
                prefetch_next_decode(e, r, &pops);
            emit_token(e, r, now);   /* may finish r: not touched afterwards */
        }
    }
    fs_kv_prefetch_pops(e->kv, pops);
    if (e->obs.on_token_gaps)
        flush_gaps(e);
    e->nbatch = 0;
    e->batch_tokens = 0;
    e->busy = false;
}

/* ---------------------------------------------------------------- queries */

bool fs_engine_busy(const fs_engine *e)
{
    return e->busy;
}

bool fs_engine_idle(const fs_engine *e)
{
    return e->waiting.n == 0 && e->running.n == 0;
}

void fs_engine_get_stats(const fs_engine *e, fs_engine_stats *out)
{
    *out = e->st;
    out->waiting = e->waiting.n;
    out->running = e->running.n;
    out->blocks_total = fs_kv_total(e->kv);
    out->blocks_free = fs_kv_num_free(e->kv);
    out->blocks_cached = fs_kv_num_cached(e->kv);
    out->kv_usage = fs_kv_usage(e->kv);
}

const fs_engine_config *fs_engine_get_config(const fs_engine *e)
{
    return &e->cfg;
}

/* ---------------------------------------------------------------- invariants */

/* One request's own invariants, wherever it is. */
static char *check_req(const fs_engine *e, const fs_engine_req *r)
{
    uint32_t B = (uint32_t)e->cfg.block_size;
    uint32_t num_tokens = r->prompt_len + r->num_output;
    if (r->num_output >= r->max_output || r->num_computed > num_tokens)
        return fu_asprintf("request %llu: %u/%u outputs, %u computed of %u tokens",
                           (unsigned long long)r->id, r->num_output, r->max_output,
                           r->num_computed, num_tokens);
    if (r->nblocks != (r->num_computed + B - 1) / B || r->nblocks > r->cap_blocks)
        return fu_asprintf("request %llu: %u blocks for %u computed tokens",
                           (unsigned long long)r->id, r->nblocks, r->num_computed);
    const int32_t *blocks = req_blocks(r);
    if (r->nblocks && r->tail_block != blocks[r->nblocks - 1])
        return fu_asprintf("request %llu: last block %d recorded as %d",
                           (unsigned long long)r->id, (int)blocks[r->nblocks - 1],
                           (int)r->tail_block);
    if (r->ncached_blocks > r->nblocks || r->ncached_blocks > r->nhashes)
        return fu_asprintf("request %llu: %u cached of %u blocks", (unsigned long long)r->id,
                           r->ncached_blocks, r->nblocks);
    for (uint32_t i = 0; i < r->nblocks; i++) {
        uint64_t h;
        bool hashed = fs_kv_block_hash(e->kv, blocks[i], &h);
        if (hashed && (i >= r->ncached_blocks || h != r->hashes[i]))
            return fu_asprintf("request %llu: block %u (%d) carries a foreign hash",
                               (unsigned long long)r->id, i, (int)blocks[i]);
    }
    return NULL;
}

/* A queue's links, count, states and (priority mode) order. */
static char *check_list(const fs_engine *e, const req_list *l, bool running)
{
    int n = 0;
    const fs_engine_req *prev = NULL;
    for (const fs_engine_req *r = l->head; r; prev = r, r = r->next) {
        if (r->prev != prev || ++n > l->n)
            return fu_asprintf("%s list: broken links", running ? "running" : "waiting");
        bool ok = running ? r->state == FS_REQ_RUNNING
                          : (r->state == FS_REQ_WAITING || r->state == FS_REQ_PREEMPTED) &&
                            r->num_computed == 0;
        if (!ok)
            return fu_asprintf("request %llu: state %d in the %s list",
                               (unsigned long long)r->id, (int)r->state,
                               running ? "running" : "waiting");
        if (!running && e->cfg.priority_scheduling && prev && runs_before(r, prev))
            return fu_asprintf("waiting list out of priority order");
        char *msg = check_req(e, r);
        if (msg)
            return msg;
    }
    if (n != l->n || prev != l->tail)
        return fu_asprintf("%s list: %d counted, %d recorded", running ? "running" : "waiting",
                           n, l->n);
    return NULL;
}

/* Every block's ref count equals the number of block tables holding it. */
static char *check_holders(const fs_engine *e)
{
    int64_t nb = fs_kv_total(e->kv), held = 0;
    uint32_t *cnt = calloc((size_t)nb, sizeof *cnt);
    if (!cnt)
        return fu_asprintf("engine check: out of memory");
    for (const fs_engine_req *r = e->running.head; r; r = r->next) {
        const int32_t *blocks = req_blocks(r);
        for (uint32_t i = 0; i < r->nblocks; i++)
            cnt[blocks[i]]++;
    }
    char *msg = NULL;
    for (int64_t b = 0; b < nb && !msg; b++) {
        held += cnt[b] > 0;
        if (cnt[b] != fs_kv_ref(e->kv, (int32_t)b))
            msg = fu_asprintf("block %lld: ref %u, held by %u requests", (long long)b,
                              fs_kv_ref(e->kv, (int32_t)b), cnt[b]);
    }
    if (!msg && held + fs_kv_num_free(e->kv) != nb)
        msg = fu_asprintf("blocks: %lld held + %lld free != %lld", (long long)held,
                          (long long)fs_kv_num_free(e->kv), (long long)nb);
    free(cnt);
    return msg;
}

/* The current batch: running requests, each once, with its tokens recorded. */
static char *check_batch(const fs_engine *e)
{
    uint32_t tokens = 0;
    for (size_t i = 0; i < e->nbatch; i++) {
        const fs_engine_req *r = e->sched[i];
        if (r->state != FS_REQ_RUNNING || r->sched_tokens != e->batch[i].new_tokens ||
            r->num_computed != e->batch[i].context + e->batch[i].new_tokens)
            return fu_asprintf("batch entry %zu does not match its request", i);
        tokens += e->batch[i].new_tokens;
    }
    if (tokens != e->batch_tokens || tokens > (uint32_t)e->cfg.max_num_batched_tokens ||
        e->busy != (e->nbatch > 0))
        return fu_asprintf("batch: %u tokens, %u recorded", tokens, e->batch_tokens);
    return NULL;
}

int fs_engine_check(const fs_engine *e, char **err)
{
    int rc = fs_kv_check(e->kv, err);
    if (rc)
        return rc;
    char *msg = NULL;
    if (e->running.n > e->cfg.max_num_seqs)
        msg = fu_asprintf("%d running > max_num_seqs %d", e->running.n, e->cfg.max_num_seqs);
    if (!msg)
        msg = check_list(e, &e->waiting, false);
    if (!msg)
        msg = check_list(e, &e->running, true);
    if (!msg)
        msg = check_holders(e);
    if (!msg)
        msg = check_batch(e);
    if (!msg)
        return 0;
    return invalid(err, msg);
}
