/*
 * scorers.c: llm-d's scorers, each a const fp__ops with llm-d's formula and defaults
 * (llm-d-router.md section 1.1; R/pkg/epp/framework/plugins/scheduling/scorer/...).
 * A scorer writes one value per candidate; the profile clamps it to [0,1] and adds it
 * times the scorer's weight (no normalisation by the sum of weights).
 *
 *   queue-scorer                 (maxQ - q) / (maxQ - minQ) over the candidates; 1 if all equal
 *   running-requests-size-scorer the same on running requests
 *   kv-cache-utilization-scorer  1 - KV usage
 *   load-aware-scorer            q == 0 ? 0.5 : 0.5 * (1 - min(q, T) / T), T = threshold (128)
 *   active-request-scorer        n <= idleThreshold (0) ? 1 : (max_n - n) / max_n * maxBusyScore (1)
 *   token-load-scorer            1 - min(1, (inflight uncached tokens + this request's
 *                                uncached tokens) / queueThresholdTokens (4,194,304))
 *   session-affinity-scorer      1 for the endpoint the session is bound to, else 0
 *   no-hit-lru-scorer            cold requests: never-used endpoints 1 - i/(N-1), then by
 *                                LRU of cold picks; requests with a hit: 0.5 everywhere
 *   prefix-cache-scorer          w * min(1, matched*blockSize/maxModelLen)^2 + (1-w) * matched/total
 *   header-label-affinity-scorer 1 where the endpoint's label equals the request header
 *
 * Workload: every scorer runs once per profile per pick over up to ~1,000 candidates;
 * each is one pass (two for min-max normalisation) with no allocation.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fp_internal.h"
#include "fp_plugins.h"

#define NAME_MAX_LEN 256

static const fu_yfield no_fields[] = { { NULL } };

/* Plugins without parameters: an empty or absent mapping. */
int fp__no_params(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    char unused;
    *self = NULL;
    return fp__params(params, ld->current->ops->type, no_fields, NULL, &unused, err);
}

static const fp__ep *ep_of(const fp__cycle *cy, uint32_t id) { return &cy->p->eps[id]; }

/* ------------------------------------------------------------------ min-max scorers */

/* (max - v) / (max - min), 1 when all candidates are equal. */
static void minmax(const double *v, size_t n, double *out)
{
    double lo = v[0], hi = v[0];
    for (size_t i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = hi == lo ? 1.0 : (hi - v[i]) / (hi - lo);
}

static void queue_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out)
{
    (void)self;
    for (size_t i = 0; i < n; i++)
        out[i] = ep_of(cy, ids[i])->m.waiting;
    minmax(out, n, out);
}

static void running_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out)
{
    (void)self;
    for (size_t i = 0; i < n; i++)
        out[i] = ep_of(cy, ids[i])->m.running;
    minmax(out, n, out);
}

static void kv_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out)
{
    (void)self;
    for (size_t i = 0; i < n; i++)
        out[i] = 1.0 - ep_of(cy, ids[i])->m.kv_usage;
}

const fp__ops fp__ops_queue_scorer = {
    .type = "queue-scorer", .kind = FP__SCORER, .create = fp__no_params, .score = queue_score,
};
const fp__ops fp__ops_running_scorer = {
    .type = "running-requests-size-scorer", .kind = FP__SCORER, .create = fp__no_params,
    .score = running_score,
};
const fp__ops fp__ops_kv_scorer = {
    .type = "kv-cache-utilization-scorer", .kind = FP__SCORER, .create = fp__no_params,
    .score = kv_score,
};

/* ------------------------------------------------------------------ load-aware-scorer */

typedef struct load_aware {
    int threshold;
} load_aware;

static const fu_yfield load_aware_fields[] = {
    { "threshold", FU_Y_INT, offsetof(load_aware, threshold), 0, -1e9, 1e9, 0,
      "waiting requests at which the score reaches 0" },
    { NULL },
};

static int load_aware_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    load_aware c = { .threshold = 128 };
    if (fp__params(params, "load-aware-scorer", load_aware_fields, NULL, &c, err))
        return -EINVAL;
    if (c.threshold <= 0)          /* llm-d falls back to the default */
        c.threshold = 128;
    (void)ld;
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static void load_aware_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n,
                             double *out)
{
    double t = ((load_aware *)self)->threshold;
    for (size_t i = 0; i < n; i++) {
        double q = ep_of(cy, ids[i])->m.waiting;
        out[i] = q <= 0 ? 0.5 : 0.5 * (1.0 - (q < t ? q : t) / t);
    }
}

const fp__ops fp__ops_load_aware_scorer = {
    .type = "load-aware-scorer", .kind = FP__SCORER, .create = load_aware_create,
    .destroy = free, .score = load_aware_score,
};

/* ------------------------------------------------------------------ active-request-scorer */

typedef struct active_req {
    char requestTimeout[64];   /* deprecated in llm-d, ignored */
    int idleThreshold;
    double maxBusyScore;
    char inFlightLoadProducerName[NAME_MAX_LEN];
} active_req;

static const fu_yfield active_req_fields[] = {
    { "requestTimeout", FU_Y_STR, offsetof(active_req, requestTimeout), 64, 0, 0, 0,
      "deprecated and ignored (in-flight requests are tracked by the policy)" },
    { "idleThreshold", FU_Y_INT, offsetof(active_req, idleThreshold), 0, -1e9, 1e9, 0,
      "in-flight requests up to which an endpoint scores 1" },
    { "maxBusyScore", FU_Y_DOUBLE, offsetof(active_req, maxBusyScore), 0, -1e300, 1e300, 0,
      "highest score of a busy endpoint, 0..1" },
    { "inFlightLoadProducerName", FU_Y_STR, offsetof(active_req, inFlightLoadProducerName),
      NAME_MAX_LEN, 0, 0, 0, "the in-flight producer (there is one per policy)" },
    { NULL },
};

static int active_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    active_req c = { .idleThreshold = 0, .maxBusyScore = NAN };
    (void)ld;
    if (fp__params(params, "active-request-scorer", active_req_fields, NULL, &c, err))
        return -EINVAL;
    if (c.idleThreshold < 0)
        c.idleThreshold = 0;
    if (isnan(c.maxBusyScore) || c.maxBusyScore < 0 || c.maxBusyScore > 1)
        c.maxBusyScore = 1.0;      /* llm-d ignores an out-of-range value */
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static void active_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out)
{
    const active_req *c = self;
    int64_t mx = 0;
    for (size_t i = 0; i < n; i++)
        if (ep_of(cy, ids[i])->inflight_requests > mx)
            mx = ep_of(cy, ids[i])->inflight_requests;
    for (size_t i = 0; i < n; i++) {
        int64_t k = ep_of(cy, ids[i])->inflight_requests;
        out[i] = k <= c->idleThreshold ? 1.0 : (double)(mx - k) / (double)mx * c->maxBusyScore;
    }
}

const fp__ops fp__ops_active_request_scorer = {
    .type = "active-request-scorer", .kind = FP__SCORER, .create = active_create,
    .destroy = free, .score = active_score,
};

/* ------------------------------------------------------------------ token-load-scorer */

typedef struct token_load {
    int64_t queueThresholdTokens;
    double nonTextTokenWeight;
    char inFlightLoadProducerName[NAME_MAX_LEN];
} token_load;

static const fu_yfield token_load_fields[] = {
    { "queueThresholdTokens", FU_Y_INT64, offsetof(token_load, queueThresholdTokens), 0,
      -9e18, 9e18, 0, "in-flight tokens at which the score reaches 0" },
    { "nonTextTokenWeight", FU_Y_DOUBLE, offsetof(token_load, nonTextTokenWeight), 0, -1e300,
      1e300, 0, "weight of a multimodal token (requests here are text)" },
    { "inFlightLoadProducerName", FU_Y_STR, offsetof(token_load, inFlightLoadProducerName),
      NAME_MAX_LEN, 0, 0, 0, "the in-flight producer (there is one per policy)" },
    { NULL },
};

static int token_load_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    token_load c = { .queueThresholdTokens = 4194304, .nonTextTokenWeight = 1.0 };
    (void)ld;
    if (fp__params(params, "token-load-scorer", token_load_fields, NULL, &c, err))
        return -EINVAL;
    if (c.queueThresholdTokens <= 0)
        c.queueThresholdTokens = 4194304;
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static void token_load_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n,
                             double *out)
{
    double t = (double)((token_load *)self)->queueThresholdTokens;
    for (size_t i = 0; i < n; i++) {
        double load = (double)ep_of(cy, ids[i])->inflight_tokens + fp__uncached(cy, ids[i]);
        out[i] = load <= 0 ? 1.0 : 1.0 - (load < t ? load : t) / t;
    }
}

const fp__ops fp__ops_token_load_scorer = {
    .type = "token-load-scorer", .kind = FP__SCORER, .create = token_load_create,
    .destroy = free, .score = token_load_score,
};

/* ------------------------------------------------------------------ prefix-cache-scorer */

typedef struct prefix_scorer {
    double prefixLengthWeight;
    int maxModelLen;
    char prefixMatchInfoProducerName[NAME_MAX_LEN];
    fu_ynode at;
    bool legacy;
    fp__plugin *src;
} prefix_scorer;

static const fu_yfield prefix_scorer_fields[] = {
    { "prefixLengthWeight", FU_Y_DOUBLE, offsetof(prefix_scorer, prefixLengthWeight), 0, 0, 1,
      0, "weight of the absolute matched length, 0..1" },
    { "maxModelLen", FU_Y_INT, offsetof(prefix_scorer, maxModelLen), 0, 1, 1e9, 0,
      "context length the matched length is measured against" },
    { "prefixMatchInfoProducerName", FU_Y_STR,
      offsetof(prefix_scorer, prefixMatchInfoProducerName), NAME_MAX_LEN, 0, 0, 0,
      "the prefix producer to read (default: the approximate one)" },
    { NULL },
};

/* Parameters of the producer that older llm-d configs put on the scorer. */
static const char *const approx_legacy_keys[] = {
    "autoTune", "blockSize", "blockSizeTokens", "maxPrefixBlocksToMatch",
    "maxPrefixTokensToMatch", "lruCapacityPerServer", NULL,
};

static int prefix_scorer_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    prefix_scorer c = { .prefixLengthWeight = 0.0, .maxModelLen = 8192, .at = params };
    if (fp__params(params, "prefix-cache-scorer", prefix_scorer_fields, approx_legacy_keys,
                   &c, err))
        return -EINVAL;
    for (const char *const *k = approx_legacy_keys; *k && fu_ynode_ok(params); k++)
        c.legacy |= fu_ynode_ok(fu_ymap_get(params, *k));
    if (c.legacy)
        fp__approx_legacy(ld, params);
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static int prefix_scorer_link(fp__loader *ld, fp__plugin *me, char **err)
{
    prefix_scorer *c = me->self;
    if (c->legacy && c->prefixMatchInfoProducerName[0])
        return fp__fail(err, c->at, "producer parameters (blockSizeTokens, lruCapacityPerServer, "
                        "...) on a prefix-cache-scorer apply to the default approximate producer, "
                        "not to '%s'; set them on that producer", c->prefixMatchInfoProducerName);
    return fp__prefix_ref(ld, c->prefixMatchInfoProducerName, c->at, &c->src, err);
}

static void prefix_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out)
{
    (void)cy;
    const prefix_scorer *c = self;
    const fp__prefix_src *s = c->src->self;
    double w = c->prefixLengthWeight;
    for (size_t i = 0; i < n; i++) {
        if (s->total_blocks == 0) {
            out[i] = 0.0;
            continue;
        }
        double m = fp__match(s, ids[i]), ratio = m / s->total_blocks;
        double len = m * s->block_size / c->maxModelLen;
        len = len < 1.0 ? len : 1.0;
        out[i] = w * len * len + (1.0 - w) * ratio;
    }
}

const fp__ops fp__ops_prefix_cache_scorer = {
    .type = "prefix-cache-scorer", .kind = FP__SCORER, .create = prefix_scorer_create,
    .link = prefix_scorer_link, .destroy = free, .score = prefix_score,
};

/* ------------------------------------------------------------------ no-hit-lru-scorer */

typedef struct no_hit_lru {
    int lruSize;
    char prefixMatchInfoProducerName[NAME_MAX_LEN];
    char prefixPluginType[NAME_MAX_LEN], prefixPluginName[NAME_MAX_LEN]; /* deprecated */
    fu_ynode at;
    fp__plugin *src;
    /* LRU of endpoints that served cold requests, oldest first; pos[ep] = index or NIL */
    uint32_t *lru, *pos;
    size_t n, pos_cap;
    bool cold;             /* the last Score saw a cold request */
    uint32_t cold_gen;     /* policy generation of that Score */
} no_hit_lru;

static const fu_yfield no_hit_fields[] = {
    { "lruSize", FU_Y_INT, offsetof(no_hit_lru, lruSize), 0, -1e9, 1e9, 0,
      "endpoints remembered (default 1024)" },
    { "prefixMatchInfoProducerName", FU_Y_STR, offsetof(no_hit_lru, prefixMatchInfoProducerName),
      NAME_MAX_LEN, 0, 0, 0, "the prefix producer to read" },
    { "prefixPluginType", FU_Y_STR, offsetof(no_hit_lru, prefixPluginType), NAME_MAX_LEN, 0, 0,
      0, "deprecated, never used" },
    { "prefixPluginName", FU_Y_STR, offsetof(no_hit_lru, prefixPluginName), NAME_MAX_LEN, 0, 0,
      0, "deprecated, never used" },
    { NULL },
};

static int no_hit_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    no_hit_lru *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->lruSize = 1024;
    c->at = params;
    (void)ld;
    if (fp__params(params, "no-hit-lru-scorer", no_hit_fields, NULL, c, err)) {
        free(c);
        return -EINVAL;
    }
    if (c->lruSize <= 0)
        c->lruSize = 1024;
    if (!(c->lru = malloc((size_t)c->lruSize * sizeof *c->lru))) {
        free(c);
        return -ENOMEM;
    }
    *self = c;
    return 0;
}

static void no_hit_destroy(void *self)
{
    no_hit_lru *c = self;
    free(c->lru);
    free(c->pos);
    free(c);
}

static int no_hit_link(fp__loader *ld, fp__plugin *me, char **err)
{
    no_hit_lru *c = me->self;
    return fp__prefix_ref(ld, c->prefixMatchInfoProducerName, c->at, &c->src, err);
}

static uint32_t lru_pos(const no_hit_lru *c, uint32_t ep)
{
    return ep < c->pos_cap ? c->pos[ep] : FP__NIL;
}

static void no_hit_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out)
{
    no_hit_lru *c = self;
    const fp__prefix_src *s = c->src->self;
    c->cold = true;
    c->cold_gen = cy->p->gen;
    for (size_t i = 0; i < n && c->cold; i++)
        c->cold = fp__match(s, ids[i]) <= 0;
    if (!c->cold || n == 1) {
        for (size_t i = 0; i < n; i++)
            out[i] = c->cold ? 1.0 : 0.5;
        return;
    }
    size_t never = 0;
    for (size_t i = 0; i < n; i++)
        if (lru_pos(c, ids[i]) == FP__NIL)
            out[i] = 1.0 - (double)never++ / (double)(n - 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t at = lru_pos(c, ids[i]);
        if (at != FP__NIL) {
            double v = 1.0 - (double)(never + at) / (double)(n - 1);
            out[i] = v < 0 ? 0 : v;
        }
    }
}

static void lru_remove(no_hit_lru *c, uint32_t ep)
{
    uint32_t at = lru_pos(c, ep);
    if (at == FP__NIL)
        return;
    memmove(c->lru + at, c->lru + at + 1, (c->n - at - 1) * sizeof *c->lru);
    c->n--;
    c->pos[ep] = FP__NIL;
    for (size_t i = at; i < c->n; i++)
        c->pos[c->lru[i]] = (uint32_t)i;
}

/* Makes ep the most recently used (hashicorp lru.Add). */
static void lru_touch(no_hit_lru *c, uint32_t ep)
{
    size_t old = c->pos_cap;
    if (fp__grow((void **)&c->pos, &c->pos_cap, (size_t)ep + 1, sizeof *c->pos))
        return;                                /* best effort, like llm-d's PreRequest */
    for (size_t i = old; i < c->pos_cap; i++)
        c->pos[i] = FP__NIL;
    lru_remove(c, ep);
    if (c->n == (size_t)c->lruSize)
        lru_remove(c, c->lru[0]);
    c->pos[ep] = (uint32_t)c->n;
    c->lru[c->n++] = ep;
}

static void no_hit_pre_request(void *self, fp__cycle *cy)
{
    no_hit_lru *c = self;
    if (!c->cold || c->cold_gen != cy->p->gen)
        return;
    uint32_t d = fp__primary_target(cy), pf = fp__run_target(cy, "prefill");
    if (d != FP__NIL)
        lru_touch(c, d);
    if (pf != FP__NIL)
        lru_touch(c, pf);
}

static void no_hit_forget(void *self, uint32_t ep) { lru_remove(self, ep); }

const fp__ops fp__ops_no_hit_lru_scorer = {
    .type = "no-hit-lru-scorer", .kind = FP__SCORER, .create = no_hit_create,
    .link = no_hit_link, .destroy = no_hit_destroy, .score = no_hit_score,
    .pre_request = no_hit_pre_request, .forget = no_hit_forget,
};

/* ------------------------------------------------------------------ session-affinity-scorer */

typedef struct sess_bind {
    uint64_t key;
    uint32_t ep;
    bool used;
    int64_t expires;
} sess_bind;

typedef struct session {
    char algorithm[32];
    char headerName[NAME_MAX_LEN];
    char profileName[NAME_MAX_LEN];
    double evictionTtlSeconds, evictionSweepSeconds;
    bool by_id;                  /* session_id_header */
    sess_bind *map;
    size_t cap, n;
    int64_t next_sweep;
    uint64_t key;                /* this cycle's session key, 0 = none */
    uint32_t key_gen;
} session;

static const fu_yfield session_fields[] = {
    { "algorithm", FU_Y_STR, offsetof(session, algorithm), 32, 0, 0, 0,
      "encoded_endpoint_header or session_id_header" },
    { "headerName", FU_Y_STR, offsetof(session, headerName), NAME_MAX_LEN, 0, 0, 0,
      "request header carrying the session" },
    { "profileName", FU_Y_STR, offsetof(session, profileName), NAME_MAX_LEN, 0, 0, 0,
      "profile whose pick the session binds to (default: the primary)" },
    { "evictionTtlSeconds", FU_Y_DOUBLE, offsetof(session, evictionTtlSeconds), 0, 1e-3, 1e9, 0,
      "seconds a binding survives unused (session_id_header)" },
    { "evictionSweepSeconds", FU_Y_DOUBLE, offsetof(session, evictionSweepSeconds), 0, 1e-3, 1e9,
      0, "seconds between sweeps of expired bindings (session_id_header)" },
    { NULL },
};

static int session_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    session *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    strcpy(c->algorithm, "encoded_endpoint_header");
    c->evictionTtlSeconds = 300;   /* llm-d-router.md: the session_id map's TTL */
    c->evictionSweepSeconds = 30;
    (void)ld;
    if (fp__params(params, "session-affinity-scorer", session_fields, NULL, c, err)) {
        free(c);
        return -EINVAL;
    }
    c->by_id = strcmp(c->algorithm, "session_id_header") == 0;
    if (!c->by_id && strcmp(c->algorithm, "encoded_endpoint_header") != 0) {
        fp__fail(err, fu_ymap_get(params, "algorithm"), "unknown algorithm '%s' (expected "
                 "encoded_endpoint_header or session_id_header)", c->algorithm);
        free(c);
        return -EINVAL;
    }
    if (!c->headerName[0])
        strcpy(c->headerName, c->by_id ? "x-session-id" : "x-session-token");
    *self = c;
    return 0;
}

static void session_destroy(void *self)
{
    session *c = self;
    free(c->map);
    free(c);
}

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static size_t bind_pos(const session *c, uint64_t key)
{
    size_t mask = c->cap - 1, i = mix64(key) & mask;
    while (c->map[i].used && c->map[i].key != key)
        i = (i + 1) & mask;
    return i;
}

/* Rebuilds the table without expired (or forgotten) bindings; grows it if needed. */
static int bind_rehash(session *c, int64_t now, uint32_t drop_ep, size_t want)
{
    size_t live = 0;
    for (size_t i = 0; i < c->cap; i++)
        live += c->map[i].used && c->map[i].expires > now && c->map[i].ep != drop_ep;
    size_t ncap = 64;
    while (ncap < 2 * (live + want))
        ncap *= 2;
    sess_bind *old = c->map, *t = calloc(ncap, sizeof *t);
    if (!t)
        return -ENOMEM;
    size_t ocap = c->cap;
    c->map = t;
    c->cap = ncap;
    c->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].used && old[i].expires > now && old[i].ep != drop_ep) {
            c->map[bind_pos(c, old[i].key)] = old[i];
            c->n++;
        }
    free(old);
    return 0;
}

/* The session key of this request: a hash of the header, else the numeric session. */
static uint64_t session_key(const session *c, const fp_request *r)
{
    const char *h = fp__header(r, c->headerName);
    if (h && *h)
        return fp__hash_str(h) | 1;
    return r->session ? mix64(r->session) << 1 : 0;
}

static uint32_t bound_ep(session *c, fp__cycle *cy)
{
    if (!c->by_id) {
        const char *tok = fp__header(cy->req, c->headerName);
        char *name = tok && *tok ? fp__unbase64(tok) : NULL;
        uint32_t id;
        int rc = name ? fp_endpoint_find(cy->p, name, &id) : -ENOENT;
        free(name);
        return rc ? FP__NIL : id;
    }
    c->key = session_key(c, cy->req);
    c->key_gen = cy->p->gen;
    if (!c->key || !c->n)
        return FP__NIL;
    const sess_bind *b = &c->map[bind_pos(c, c->key)];
    return b->used && b->expires > cy->now ? b->ep : FP__NIL;
}

static void session_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out)
{
    uint32_t ep = bound_ep(self, cy);
    for (size_t i = 0; i < n; i++)
        out[i] = ids[i] == ep ? 1.0 : 0.0;
}

static void session_pre_request(void *self, fp__cycle *cy)
{
    session *c = self;
    if (!c->by_id || !c->key || c->key_gen != cy->p->gen)
        return;
    uint32_t ep = c->profileName[0] ? fp__run_target(cy, c->profileName) : fp__primary_target(cy);
    if (ep == FP__NIL)
        return;
    int64_t now = cy->now;
    if (now >= c->next_sweep || (c->n + 1) * 2 > c->cap) {
        if (bind_rehash(c, now, FP__NIL, 1))
            return;
        c->next_sweep = now + (int64_t)(c->evictionSweepSeconds * 1e9);
    }
    sess_bind *b = &c->map[bind_pos(c, c->key)];
    if (!b->used)
        c->n++;
    *b = (sess_bind){ c->key, ep, true, now + (int64_t)(c->evictionTtlSeconds * 1e9) };
}

static void session_forget(void *self, uint32_t ep)
{
    session *c = self;
    if (c->cap)
        bind_rehash(c, INT64_MIN, ep, 0);
}

const fp__ops fp__ops_session_affinity_scorer = {
    .type = "session-affinity-scorer", .kind = FP__SCORER, .create = session_create,
    .destroy = session_destroy, .score = session_score, .pre_request = session_pre_request,
    .forget = session_forget,
};

/* ------------------------------------------------------------------ header-label-affinity-scorer */

typedef struct header_label {
    char headerName[NAME_MAX_LEN];
    char labelKey[NAME_MAX_LEN];
    bool stampResponseHeader;
} header_label;

static const fu_yfield header_label_fields[] = {
    { "headerName", FU_Y_STR, offsetof(header_label, headerName), NAME_MAX_LEN, 0, 0, 0,
      "request header with the preferred label value" },
    { "labelKey", FU_Y_STR, offsetof(header_label, labelKey), NAME_MAX_LEN, 0, 0, 0,
      "endpoint label compared with the header" },
    { "stampResponseHeader", FU_Y_BOOL, offsetof(header_label, stampResponseHeader), 0, 0, 0, 0,
      "copy the chosen endpoint's label to the response (the caller's job here)" },
    { NULL },
};

static int header_label_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    header_label c = { .stampResponseHeader = true };
    (void)ld;
    if (fp__params(params, "header-label-affinity-scorer", header_label_fields, NULL, &c, err))
        return -EINVAL;
    if (!c.headerName[0] || !c.labelKey[0])
        return fp__fail(err, params, "header-label-affinity-scorer needs headerName and labelKey");
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static void header_label_score(void *self, fp__cycle *cy, const uint32_t *ids, size_t n,
                               double *out)
{
    const header_label *c = self;
    const char *want = fp__header(cy->req, c->headerName);
    for (size_t i = 0; i < n; i++) {
        const char *have = want ? fp__label(ep_of(cy, ids[i]), c->labelKey) : NULL;
        out[i] = have && strcmp(have, want) == 0 ? 1.0 : 0.0;
    }
}

const fp__ops fp__ops_header_label_scorer = {
    .type = "header-label-affinity-scorer", .kind = FP__SCORER, .create = header_label_create,
    .destroy = free, .score = header_label_score,
};
