/*
 * producers.c: llm-d's data producers, which annotate the endpoints before scheduling.
 *
 *   approx-prefix-cache-producer  hashes the prompt (hashing.c) at the block size of the
 *       first candidate's cache_config_info when autoTune (else blockSizeTokens, 16),
 *       raised to at least 64 tokens; at most maxPrefixTokensToMatch (131,072) / block
 *       size blocks (or maxPrefixBlocksToMatch when the token cap is 0); greedy match
 *       in the approximate index (index_approx.c); learns at PreRequest for the primary
 *       (decode) pick and for the pick of the profile named "prefill", into per-endpoint
 *       LRUs of num_gpu_blocks entries (autoTune) or lruCapacityPerServer (31,250).
 *   precise-prefix-cache-producer  longest consecutive prefix per endpoint in the index
 *       the engines' KV events feed (index_precise.c); tokenProcessorConfig.blockSize
 *       (16), hashSeed; indexerConfig.kvBlockIndexConfig.inMemoryConfig.{size,
 *       podCacheSize} (1e8, 10).
 *   precise-prefix-cache-scorer    the older combined form: the same producer, scored
 *       as weighted matched blocks / blocks.
 *   inflight-load-producer  parameters of the in-flight accounting in policy.c
 *       (addEstimatedOutputTokens, maxEstimatedOutputTokens, prefixMatchInfoProducerName).
 *
 * Workload: one Produce per pick (hashing and matching ~100 blocks), one PreRequest
 * (learning the same blocks); KV events at engine rate for the precise index.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fp_plugins.h"

#define NAME_MAX_LEN 256
#define MIN_BLOCK_TOKENS 64   /* llm-d's minBlockSizeTokens (issue #1158) */

/* Blocks a prompt has at block size bs, counting a partial last one or not. */
static size_t prompt_blocks(const fp_request *r, uint32_t bs, bool partial)
{
    size_t units, per;
    if (r->tokens && r->ntokens > 0) {
        units = r->ntokens;
        per = bs;
    } else if (r->text && r->text_len > 0) {
        units = r->text_len;
        per = (size_t)bs * 4;
    } else {
        units = 0;
        for (size_t i = 0; r->segs && i < r->nsegs; i++)
            units += r->segs[i].len;
        per = bs;
    }
    return partial ? (units + per - 1) / per : units / per;
}

/* ------------------------------------------------------------------ approximate */

typedef struct approx {
    fp__prefix_src src;          /* first: consumers read it */
    bool autoTune;
    int blockSizeTokens, blockSize;
    int maxPrefixBlocksToMatch, maxPrefixTokensToMatch, lruCapacityPerServer;
    fp__approx *ix;
    uint64_t *hashes;
    size_t nhashes, hashes_cap;
    uint32_t *counts, *touched;
    size_t counts_cap;
} approx;

static const fu_yfield approx_fields[] = {
    { "autoTune", FU_Y_BOOL, offsetof(approx, autoTune), 0, 0, 0, 0,
      "take block size and LRU capacity from the endpoints' cache_config_info" },
    { "blockSizeTokens", FU_Y_INT, offsetof(approx, blockSizeTokens), 0, -1e9, 1e9, 0,
      "tokens per block without autoTune (raised to at least 64)" },
    { "blockSize", FU_Y_INT, offsetof(approx, blockSize), 0, -1e9, 1e9, 0,
      "deprecated spelling of blockSizeTokens" },
    { "maxPrefixBlocksToMatch", FU_Y_INT, offsetof(approx, maxPrefixBlocksToMatch), 0, -1e9,
      1e9, 0, "block cap when maxPrefixTokensToMatch is 0 (0 = unlimited)" },
    { "maxPrefixTokensToMatch", FU_Y_INT, offsetof(approx, maxPrefixTokensToMatch), 0, -1e9,
      1e9, 0, "token cap on the prefix matched (0 = use the block cap)" },
    { "lruCapacityPerServer", FU_Y_INT, offsetof(approx, lruCapacityPerServer), 0, -1e9, 1e9, 0,
      "blocks remembered per endpoint without num_gpu_blocks" },
    { NULL },
};

/* Keys a prefix-cache-scorer may carry besides the approximate producer's own. */
static const char *const scorer_keys[] = {
    "prefixLengthWeight", "maxModelLen", "prefixMatchInfoProducerName", NULL,
};

static void approx_destroy(void *self)
{
    approx *a = self;
    fp__prefix_fini(&a->src);
    fp__approx_free(a->ix);
    free(a->hashes);
    free(a->counts);
    free(a->touched);
    free(a);
}

static int approx_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    approx *a = calloc(1, sizeof *a);
    if (!a || !(a->ix = fp__approx_new())) {
        free(a);
        return -ENOMEM;
    }
    *a = (approx){ .autoTune = true, .blockSizeTokens = 16, .maxPrefixBlocksToMatch = 2048,
                   .maxPrefixTokensToMatch = 131072, .lruCapacityPerServer = 31250, .ix = a->ix };
    /* Created from a prefix-cache-scorer's legacy parameters: skip the scorer's own. */
    const char *const *skip = params.n && params.n == ld->legacy_approx.n ? scorer_keys : NULL;
    if (fp__params(params, "approx-prefix-cache-producer", approx_fields, skip, a, err))
        goto bad;
    if (a->blockSize > 0 && a->blockSizeTokens == 16)
        a->blockSizeTokens = a->blockSize;   /* llm-d maps the deprecated key */
    if (!a->autoTune && a->blockSizeTokens <= 0) {
        fp__fail(err, params, "blockSizeTokens must be > 0 when autoTune is false");
        goto bad;
    }
    if (a->maxPrefixTokensToMatch < 0 || a->maxPrefixBlocksToMatch < 0) {
        fp__fail(err, params, "maxPrefixTokensToMatch and maxPrefixBlocksToMatch must be >= 0");
        goto bad;
    }
    *self = a;
    return 0;
bad:
    approx_destroy(a);
    return -EINVAL;
}

static uint32_t approx_block_size(const approx *a, const fp__cycle *cy)
{
    int bs = a->blockSizeTokens;
    uint32_t metric = cy->ncands ? cy->p->eps[cy->cands[0]].m.block_size : 0;
    if (a->autoTune && metric > 0)
        bs = (int)metric;
    return bs < MIN_BLOCK_TOKENS ? MIN_BLOCK_TOKENS : (uint32_t)bs;
}

static size_t approx_max_blocks(const approx *a, uint32_t bs)
{
    if (a->maxPrefixTokensToMatch > 0)
        return (size_t)a->maxPrefixTokensToMatch / bs;
    return a->maxPrefixBlocksToMatch == 0 ? SIZE_MAX : (size_t)a->maxPrefixBlocksToMatch;
}

static int approx_produce(void *self, fp__cycle *cy)
{
    approx *a = self;
    size_t cap = fp__policy_cap(cy->p), c2 = a->counts_cap;
    if (fp__prefix_begin(&a->src, cap) ||
        fp__grow((void **)&a->counts, &a->counts_cap, cap, sizeof *a->counts) ||
        fp__grow((void **)&a->touched, &c2, cap, sizeof *a->touched))
        return -ENOMEM;
    uint32_t bs = approx_block_size(a, cy);
    size_t max = approx_max_blocks(a, bs), need = prompt_blocks(cy->req, bs, true);
    need = need < max ? need : max;
    if (fp__grow((void **)&a->hashes, &a->hashes_cap, need, sizeof *a->hashes))
        return -ENOMEM;
    a->nhashes = fp_prefix_hashes(cy->req, bs, a->hashes, need);
    a->src.total_blocks = (uint32_t)a->nhashes;
    a->src.block_size = bs;
    size_t nt = 0;
    fp__approx_match(a->ix, a->hashes, a->nhashes, a->counts, a->touched, &nt);
    for (size_t i = 0; i < nt; i++) {
        fp__prefix_set(&a->src, a->touched[i], a->counts[a->touched[i]]);
        a->counts[a->touched[i]] = 0;
    }
    return 0;
}

static void approx_learn(approx *a, fp__cycle *cy, uint32_t ep)
{
    const fp__ep *e = &cy->p->eps[ep];
    uint32_t capacity = 31250;
    if (a->autoTune && e->m.num_blocks > 0)
        capacity = e->m.num_blocks;
    else if (a->lruCapacityPerServer > 0)
        capacity = (uint32_t)a->lruCapacityPerServer;
    fp__approx_add(a->ix, a->hashes, a->nhashes, ep, capacity);  /* best effort */
}

static void approx_pre_request(void *self, fp__cycle *cy)
{
    approx *a = self;
    uint32_t d = fp__primary_target(cy), pf = fp__run_target(cy, "prefill");
    if (a->nhashes == 0)
        return;
    if (d != FP__NIL)
        approx_learn(a, cy, d);
    if (pf != FP__NIL)
        approx_learn(a, cy, pf);
}

static void approx_forget(void *self, uint32_t ep) { fp__approx_remove_ep(((approx *)self)->ix, ep); }

const fp__ops fp__ops_approx_producer = {
    .type = "approx-prefix-cache-producer", .kind = FP__PRODUCER | FP__PREFIX,
    .create = approx_create, .destroy = approx_destroy, .produce = approx_produce,
    .pre_request = approx_pre_request, .forget = approx_forget,
};

/* ------------------------------------------------------------------ precise */

typedef struct precise {
    fp__prefix_src src;          /* first: consumers read it */
    int blockSize;
    char hashSeed[NAME_MAX_LEN];
    int64_t size;
    int podCacheSize;
    fp__precise *ix;
    uint64_t *keys;
    size_t keys_cap;
} precise;

static const fu_yfield token_proc_fields[] = {
    { "blockSize", FU_Y_INT, offsetof(precise, blockSize), 0, 1, 1e6, 0, "tokens per KV block" },
    { "hashSeed", FU_Y_STR, offsetof(precise, hashSeed), NAME_MAX_LEN, 0, 0, 0,
      "seed string of the block hash chain" },
    { NULL },
};

static const fu_yfield in_memory_fields[] = {
    { "size", FU_Y_INT64, offsetof(precise, size), 0, 1, 9e18, 0, "keys held" },
    { "podCacheSize", FU_Y_INT, offsetof(precise, podCacheSize), 0, 1, 1e6, 0,
      "endpoints per key" },
    { NULL },
};

static const char *const precise_keys[] = {
    "tokenProcessorConfig", "indexerConfig", "kvEventsConfig", "speculativeIndexing",
    "speculativeTTL", "sessionManager", NULL,
};

static void precise_destroy(void *self)
{
    precise *c = self;
    fp__prefix_fini(&c->src);
    fp__precise_free(c->ix);
    free(c->keys);
    free(c);
}

/* Reads the parts of llm-d-kv-cache's configuration that change what is matched; the
   rest (tokenizers, ZMQ endpoints, metrics) configures machinery the caller replaces. */
static int precise_parse(precise *c, fu_ynode params, const char *type, char **err)
{
    static const fu_yfield none[] = { { NULL } };
    if (fp__params(params, type, none, precise_keys, c, err))
        return -EINVAL;
    fu_ynode ic = fu_ymap_get(params, "indexerConfig");
    fu_ynode tp = fu_ymap_get(params, "tokenProcessorConfig");
    if (!fu_ynode_ok(tp))
        tp = fu_ymap_get(ic, "tokenProcessorConfig");
    fu_ynode mem = fu_ymap_get(fu_ymap_get(ic, "kvBlockIndexConfig"), "inMemoryConfig");
    if (fp__params(tp, "tokenProcessorConfig", token_proc_fields, NULL, c, err) ||
        fp__params(mem, "inMemoryConfig", in_memory_fields, NULL, c, err))
        return -EINVAL;
    fu_ynode spec = fu_ymap_get(params, "speculativeIndexing");
    bool on = false;
    if (fu_ynode_ok(spec) && (fu_ynode_bool(spec, &on, err) || on))
        return on ? fp__fail(err, spec, "speculativeIndexing is not supported") : -EINVAL;
    const char *sm = fu_ynode_str(fu_ymap_get(params, "sessionManager"));
    if (sm && *sm)
        return fp__fail(err, fu_ymap_get(params, "sessionManager"),
                        "sessionManager is not supported");
    return 0;
}

static int precise_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    precise *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->blockSize = 16;
    c->size = 100000000;
    c->podCacheSize = 10;
    if (precise_parse(c, params, ld->current->ops->type, err)) {
        free(c);
        return -EINVAL;
    }
    if (!(c->ix = fp__precise_new((size_t)c->size, (uint32_t)c->podCacheSize))) {
        free(c);
        return -ENOMEM;
    }
    *self = c;
    return 0;
}

static void set_match(void *ctx, uint32_t ep, double w) { fp__prefix_set(ctx, ep, w); }

static int precise_produce(void *self, fp__cycle *cy)
{
    precise *c = self;
    const fp_request *r = cy->req;
    if (fp__prefix_begin(&c->src, fp__policy_cap(cy->p)))
        return -ENOMEM;
    const uint64_t *keys = r->block_keys;
    size_t n = r->nblock_keys;
    uint32_t bs = r->block_keys_size ? r->block_keys_size : (uint32_t)c->blockSize;
    if (!keys) {
        bs = (uint32_t)c->blockSize;
        size_t need = prompt_blocks(r, bs, false);
        if (fp__grow((void **)&c->keys, &c->keys_cap, need, sizeof *c->keys))
            return -ENOMEM;
        n = fp_block_keys(r, bs, c->hashSeed, c->keys, need);
        keys = c->keys;
    }
    c->src.total_blocks = (uint32_t)n;
    c->src.block_size = bs;
    fp__precise_score(c->ix, keys, n, set_match, &c->src);
    return 0;
}

static void precise_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out)
{
    (void)cy;
    for (size_t i = 0; i < n; i++)
        out[i] = fp__hit(self, ids[i]);
}

static void precise_forget(void *self, uint32_t ep)
{
    fp__precise_clear_ep(((precise *)self)->ix, ep);
}

const fp__ops fp__ops_precise_producer = {
    .type = "precise-prefix-cache-producer", .kind = FP__PRODUCER | FP__PREFIX,
    .create = precise_create, .destroy = precise_destroy, .produce = precise_produce,
    .forget = precise_forget,
};
const fp__ops fp__ops_precise_scorer = {
    .type = "precise-prefix-cache-scorer", .kind = FP__SCORER | FP__PRODUCER | FP__PREFIX,
    .create = precise_create, .destroy = precise_destroy, .produce = precise_produce,
    .score = precise_score, .forget = precise_forget,
};

bool fp_policy_uses_block_keys(const fp_policy *p)
{
    for (size_t i = 0; i < p->nplugins; i++)
        if (p->plugins[i]->ops == &fp__ops_precise_producer ||
            p->plugins[i]->ops == &fp__ops_precise_scorer)
            return true;
    return false;
}

int fp__kv_event(fp_policy *p, int what, uint32_t ep, const uint64_t *keys, size_t n,
                 unsigned tier)
{
    int rc = 0;
    for (size_t i = 0; i < p->nplugins; i++) {
        const fp__ops *o = p->plugins[i]->ops;
        if (o != &fp__ops_precise_producer && o != &fp__ops_precise_scorer)
            continue;
        fp__precise *ix = ((precise *)p->plugins[i]->self)->ix;
        if (what == 0 && fp__precise_store(ix, ep, keys, n, tier))
            rc = -ENOMEM;
        else if (what == 1)
            fp__precise_remove(ix, ep, keys, n, tier);
        else if (what == 2)
            fp__precise_clear_ep(ix, ep);
    }
    return rc;
}

/* ------------------------------------------------------------------ in-flight load */

typedef struct inflight {
    bool addEstimatedOutputTokens;
    int64_t maxEstimatedOutputTokens;
    char prefixMatchInfoProducerName[NAME_MAX_LEN];
    fu_ynode at;
} inflight;

static const fu_yfield inflight_fields[] = {
    { "addEstimatedOutputTokens", FU_Y_BOOL, offsetof(inflight, addEstimatedOutputTokens), 0, 0,
      0, 0, "count round(1.5 x prompt) output tokens until end of stream" },
    { "maxEstimatedOutputTokens", FU_Y_INT64, offsetof(inflight, maxEstimatedOutputTokens), 0, 0,
      9e18, 0, "cap on the output estimate" },
    { "prefixMatchInfoProducerName", FU_Y_STR, offsetof(inflight, prefixMatchInfoProducerName),
      NAME_MAX_LEN, 0, 0, 0, "prefix producer whose matches discount cached tokens" },
    { NULL },
};

static int inflight_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    inflight c = { .maxEstimatedOutputTokens = -1, .at = params };
    (void)ld;
    if (fp__params(params, "inflight-load-producer", inflight_fields, NULL, &c, err))
        return -EINVAL;
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

const fp__ops fp__ops_inflight_producer = {
    .type = "inflight-load-producer", .kind = FP__PRODUCER, .create = inflight_create,
    .destroy = free,
};

int fp__inflight_configure(fp__loader *ld, char **err)
{
    fp_policy *p = ld->p;
    const inflight *cfg = NULL;
    for (size_t i = 0; i < p->nplugins; i++) {
        if (p->plugins[i]->ops != &fp__ops_inflight_producer)
            continue;
        if (cfg)
            return fp__fail(err, fu_yaml_root(ld->doc), "two inflight-load-producer plugins; "
                            "the policy keeps one in-flight account");
        cfg = p->plugins[i]->self;
    }
    p->inflight.add_output = cfg && cfg->addEstimatedOutputTokens;
    p->inflight.max_output = cfg ? cfg->maxEstimatedOutputTokens : -1;
    if (cfg && cfg->prefixMatchInfoProducerName[0])
        return fp__prefix_ref(ld, cfg->prefixMatchInfoProducerName, cfg->at, &p->inflight.prefix,
                              err);
    for (size_t i = 0; i < p->nplugins && !p->inflight.prefix; i++)
        if (p->plugins[i]->ops == &fp__ops_approx_producer)
            p->inflight.prefix = p->plugins[i];
    return 0;
}
