/*
 * fp_internal.h: what the parts of libfleetpolicy share and callers never see: the
 * plugin operations table, the policy and scheduling-cycle structs, the prefix indexes.
 * Internal symbols carry the fp__ prefix (two underscores); they are not API.
 *
 * Ownership inside the library: the policy owns its plugins (fp__plugin, each with a
 * private `self`), its profiles, endpoints and in-flight table. A plugin's `self` is
 * created by ops->create from its YAML parameters and freed by ops->destroy. Arrays
 * indexed by endpoint id grow with fp__policy_cap() and are zero-filled when grown.
 */
#ifndef FP_INTERNAL_H
#define FP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetpolicy.h"
#include "fu_yaml.h"

#define FP__NIL UINT32_MAX

typedef struct fp__cycle fp__cycle;
typedef struct fp__loader fp__loader;
typedef struct fp__plugin fp__plugin;

/* What a plugin can be used as (a plugin may be several). */
enum {
    FP__FILTER = 1u << 0,
    FP__SCORER = 1u << 1,
    FP__PICKER = 1u << 2,
    FP__HANDLER = 1u << 3,
    FP__DECIDER = 1u << 4,
    FP__PRODUCER = 1u << 5,   /* runs in Produce before scheduling */
    FP__PREFIX = 1u << 6,     /* publishes prefix-cache match info (fp__prefix_src) */
    FP__INERT = 1u << 7,      /* accepted for llm-d compatibility; no effect on picks */
};

/*
 * Operations of one plugin type, in the const table of registry.c (found by type
 * name). Members a kind does not use are NULL. Hooks run on the policy's one thread.
 */
typedef struct fp__ops {
    const char *type;   /* llm-d type name, e.g. "queue-scorer" */
    unsigned kind;      /* FP__* bits */
    /* Parses parameters (a mapping, or the null node when absent) into a new *self.
       Errors are positioned (-EINVAL) or -ENOMEM. */
    int (*create)(fp__loader *ld, fu_ynode params, void **self, char **err);
    /* After every plugin exists: resolves references to other plugins by name
       (producers, deciders, profiles). May add plugins through the loader. */
    int (*link)(fp__loader *ld, fp__plugin *me, char **err);
    void (*destroy)(void *self);
    /* Filter: keeps a subset of ids[0..n) in place, preserving order; returns count. */
    size_t (*filter)(void *self, fp__cycle *cy, uint32_t *ids, size_t n);
    /* Scorer: writes out[i] for ids[i] (clamped to [0,1] by the caller). */
    void (*score)(void *self, fp__cycle *cy, const uint32_t *ids, size_t n, double *out);
    /* Picker: writes up to its maximum count of ids, best first, to out; returns the
       count (>= 1 when n >= 1). `scratch` holds n entries the picker may reorder. */
    size_t (*pick)(void *self, fp__cycle *cy, fp_scored *scratch, size_t n, uint32_t *out);
    /* Profile handler: runs profiles with fp__run_profile() and sets cy->primary,
       cy->decode_run, cy->prefill_run. Returns 0 or -ENOENT (message in cy). */
    int (*handle)(void *self, fp__cycle *cy);
    /* Decider: whether to run the optional stage given the decode pick. */
    bool (*decide)(void *self, fp__cycle *cy, uint32_t decode);
    /* Producer: annotates candidates before scheduling. 0 or -ENOMEM. */
    int (*produce)(void *self, fp__cycle *cy);
    /* PreRequest: after a successful pick. Best effort, like llm-d's asynchronous
       index updates: running out of memory here loses what could not be recorded but
       leaves the plugin's state consistent, and the pick still succeeds. */
    void (*pre_request)(void *self, fp__cycle *cy);
    /* An endpoint left the pool: forget per-endpoint state. */
    void (*forget)(void *self, uint32_t ep);
} fp__ops;

struct fp__plugin {
    char *name;
    const fp__ops *ops;
    void *self;
    int line, col;      /* where it was declared (0 when instantiated by default) */
    fu_ynode at;        /* its declaration, valid while loading (for messages) */
};

/* A plugin type, or NULL. */
const fp__ops *fp__ops_find(const char *type);

/* ---------------------------------------------------------------- prefix info */

/*
 * What a prefix producer publishes per cycle (llm-d's PrefixCacheMatchInfo): matched
 * blocks per endpoint (weighted by tier for the precise index), the request's total
 * blocks and the block size they were computed at. Every prefix producer's `self`
 * starts with this struct. match[] is valid where gen[ep] == cur_gen, else 0.
 */
typedef struct fp__prefix_src {
    double *match;
    uint32_t *gen;
    size_t cap;
    uint32_t cur_gen;
    uint32_t total_blocks;
    uint32_t block_size;
} fp__prefix_src;

static inline double fp__match(const fp__prefix_src *s, uint32_t ep)
{
    return ep < s->cap && s->gen[ep] == s->cur_gen ? s->match[ep] : 0.0;
}
/* matchBlocks / totalBlocks capped at 1; 0 without blocks. */
double fp__hit(const fp__prefix_src *s, uint32_t ep);
/* Starts a cycle's annotations (grows arrays to the policy's capacity). 0 or -ENOMEM. */
int fp__prefix_begin(fp__prefix_src *s, size_t cap);
void fp__prefix_set(fp__prefix_src *s, uint32_t ep, double match);
void fp__prefix_fini(fp__prefix_src *s);

/* ---------------------------------------------------------------- endpoints */

enum { /* llm-d.ai/role values as bits */
    FP__ROLE_NONE = 1u << 0,  /* label absent */
    FP__ROLE_ENCODE = 1u << 1,
    FP__ROLE_PREFILL = 1u << 2,
    FP__ROLE_DECODE = 1u << 3,
    FP__ROLE_OTHER = 1u << 4, /* present with another value */
};

typedef struct fp__ep {
    char *name, *address;
    char **lkeys, **lvals;  /* labels */
    size_t nlabels;
    unsigned roles;         /* FP__ROLE_* bits the role label grants */
    const char *role;       /* points into lvals, or NULL */
    bool used;
    uint32_t generation;    /* bumped on removal, so stale in-flight records miss */
    fp_metrics m;
    int64_t inflight_requests, inflight_tokens;
} fp__ep;

/* A label value of endpoint e, or NULL. */
const char *fp__label(const fp__ep *e, const char *key);

/* ---------------------------------------------------------------- profiles, policy */

typedef struct fp__weighted {
    fp__plugin *plugin;
    double weight;
} fp__weighted;

typedef struct fp__profile {
    char *name;
    fp__plugin **filters;
    size_t nfilters;
    fp__weighted *scorers;
    size_t nscorers;
    fp__plugin *picker;
    /* per-run buffers, sized to the endpoint capacity */
    uint32_t *ids;
    fp_scored *scored;
    uint32_t *targets;
} fp__profile;

/* In-flight accounting (llm-d's inflight-load-producer), part of every policy. */
typedef struct fp__inflight_cfg {
    bool add_output;           /* addEstimatedOutputTokens */
    int64_t max_output;        /* maxEstimatedOutputTokens, -1 = none */
    fp__plugin *prefix;        /* producer whose matches discount cached tokens, or NULL */
} fp__inflight_cfg;

typedef struct fp__reqrec fp__reqrec;

struct fp_policy {
    fp__plugin **plugins;
    size_t nplugins;
    fp__profile *profiles;
    size_t nprofiles;
    fp__plugin *handler;
    fp__inflight_cfg inflight;
    /* endpoints: slots, the dense candidate list in insertion order, a name index */
    fp__ep *eps;
    size_t neps_slots, cap;
    uint32_t *active;
    size_t nactive;
    uint32_t *free_slots;
    size_t nfree;
    uint32_t *names;         /* open addressing: slot of a name, FP__NIL empty */
    size_t names_cap;
    /* requests in flight */
    fp__reqrec *reqs;
    size_t reqs_cap, nreqs;
    /* the current cycle and its scratch */
    fp__cycle *cy;
    fp_profile_run *runs;
    double *tmp;
    fp_scored *pickbuf;
    size_t scratch_cap;      /* capacity the per-pick buffers were sized for */
    uint32_t *uncached;      /* per endpoint: this request's uncached prompt tokens */
    uint32_t *uncached_gen;
    uint32_t gen;
};

/* Endpoint capacity (ids are below it). */
static inline size_t fp__policy_cap(const fp_policy *p) { return p->cap; }

/* ---------------------------------------------------------------- the cycle */

struct fp__cycle {
    fp_policy *p;
    const fp_request *req;
    int64_t now;
    fp_rng *rng;
    uint32_t prompt_tokens;    /* estimate used by deciders and load */
    const uint32_t *cands;     /* every endpoint of the pool, in pool order */
    size_t ncands;
    fp_profile_run *runs;      /* profiles run so far */
    size_t nruns;
    int primary_run;           /* index into runs, -1 = none */
    int prefill_run;           /* index into runs, -1 = none */
    char *msg;                 /* why the cycle failed, malloc'd */
};

/* Runs profile `prof` (an index) over the candidates: filters, weighted scorers,
   picker. Records the run; returns its index in cy->runs, or -ENOENT / -ENOMEM. */
int fp__run_profile(fp__cycle *cy, size_t prof);
/* Index of the profile named `name`, or -1. */
int fp__profile_find(const fp_policy *p, const char *name);
/* A request header's value (case-insensitive name), or NULL. */
const char *fp__header(const fp_request *r, const char *name);
/* This request's uncached prompt tokens on ep: promptTokens * (1 - hit(ep)) with the
   in-flight producer's matches (all of them without one). */
uint32_t fp__uncached(fp__cycle *cy, uint32_t ep);
/* Estimated output tokens llm-d adds when addEstimatedOutputTokens is set. */
int64_t fp__output_estimate(const fp_policy *p, const fp_request *r, uint32_t prompt_tokens);
/* First target of the run of the profile literally named `name`, or FP__NIL. */
uint32_t fp__run_target(const fp__cycle *cy, const char *name);
/* Target of the primary run. */
uint32_t fp__primary_target(const fp__cycle *cy);

/* ---------------------------------------------------------------- loader */

struct fp__loader {
    fp_policy *p;
    fu_yaml *doc;
    fp__plugin *current;     /* the plugin being created or linked */
    fu_ynode legacy_approx;  /* producer parameters found on a prefix-cache-scorer */
    fu_ynode profiles_at;    /* schedulingProfiles, or the root (for messages) */
};

/* The plugin named `name`, or NULL. */
fp__plugin *fp__find_plugin(fp__loader *ld, const char *name);
/* Resolves a prefix producer reference: `name` (NULL or "" = the default producer,
   an approx-prefix-cache-producer, instantiated with its defaults when absent). */
int fp__prefix_ref(fp__loader *ld, const char *name, fu_ynode where, fp__plugin **out,
                   char **err);
/* Applies a field table to a parameters node (null node = nothing to apply). */
int fp__params(fu_ynode params, const char *type, const fu_yfield *fields,
               const char *const *skip, void *base, char **err);
/* Positioned error at node n; always returns -EINVAL. */
int fp__fail(char **err, fu_ynode n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Duplicates a parameter string ("" -> NULL). -ENOMEM on failure. */
int fp__strdup_opt(const char *s, char **out, char **err);
/* Frees the profiles of p (config.c). */
void fp__profiles_free(fp_policy *p);
/* Sets p->inflight from the inflight-load-producer plugin, if any (producers.c). */
int fp__inflight_configure(fp__loader *ld, char **err);
/* Routes a KV event (0 stored, 1 removed, 2 cleared) to every precise index
   (producers.c). 0 or -ENOMEM. */
int fp__kv_event(fp_policy *p, int what, uint32_t ep, const uint64_t *keys, size_t n,
                 unsigned tier);
/* Legacy producer parameters found on a prefix-cache-scorer, applied to the default
   approximate producer when the loader instantiates it. */
void fp__approx_legacy(fp__loader *ld, fu_ynode params);

/* ---------------------------------------------------------------- hashing, random */

/* Bounded growth of a zero-filled array of `size`-byte elements to at least `need`. */
int fp__grow(void **arr, size_t *cap, size_t need, size_t size);
/* base64 (standard alphabet, padded) of s into buf, like snprintf. */
size_t fp__base64(const char *s, size_t n, char *buf, size_t len);
/* Decodes base64 into a malloc'd NUL-terminated string, or NULL if invalid. */
char *fp__unbase64(const char *s);
/* xxh64 of a string, seed 0. */
uint64_t fp__hash_str(const char *s);

/* ---------------------------------------------------------------- approximate index */

/*
 * llm-d's approximate prefix index: hash -> set of endpoints, plus one LRU of hashes
 * per endpoint whose capacity is fixed when the endpoint is first added. Evicting a
 * hash from an endpoint's LRU removes the endpoint from that hash's set.
 */
typedef struct fp__approx fp__approx;
fp__approx *fp__approx_new(void);
void fp__approx_free(fp__approx *ix);
/* Adds hashes in order for ep (each becomes the most recent; the oldest beyond the
   capacity are evicted). 0 or -ENOMEM (then some of the hashes may be recorded). */
int fp__approx_add(fp__approx *ix, const uint64_t *h, size_t n, uint32_t ep, uint32_t capacity);
/* Greedy match: walks h in order, stops at the first hash held by no endpoint, and
   increments counts[ep] for every holder. Endpoints whose count goes 0 -> 1 are
   appended to touched (capacity: the number of endpoints ever added). Returns the
   number of hashes walked. */
size_t fp__approx_match(const fp__approx *ix, const uint64_t *h, size_t n, uint32_t *counts,
                        uint32_t *touched, size_t *ntouched);
void fp__approx_remove_ep(fp__approx *ix, uint32_t ep);
/* Hashes held for ep, and whether ep holds h. */
size_t fp__approx_len(const fp__approx *ix, uint32_t ep);
bool fp__approx_holds(const fp__approx *ix, uint64_t h, uint32_t ep);

/* ---------------------------------------------------------------- precise index */

/*
 * The precise index (llm-d-kv-cache's in-memory index): key -> endpoints holding the
 * block, with the tiers each holds it in; at most `pods_per_key` endpoints per key (the
 * oldest is dropped) and at most `max_keys` keys (the least recently stored key is
 * dropped).
 */
typedef struct fp__precise fp__precise;
fp__precise *fp__precise_new(size_t max_keys, uint32_t pods_per_key);
void fp__precise_free(fp__precise *ix);
int fp__precise_store(fp__precise *ix, uint32_t ep, const uint64_t *k, size_t n, unsigned tier);
void fp__precise_remove(fp__precise *ix, uint32_t ep, const uint64_t *k, size_t n, unsigned tier);
void fp__precise_clear_ep(fp__precise *ix, uint32_t ep);
/* Tier bits (1 << tier) ep holds key k in; 0 if none. */
unsigned fp__precise_tiers(const fp__precise *ix, uint64_t k, uint32_t ep);
size_t fp__precise_nkeys(const fp__precise *ix);
/* Longest consecutive prefix per endpoint, each block weighted by its best tier
   (gpu 1.0, cpu 0.8): calls out(ctx, ep, weighted blocks) for every endpoint with a
   non-empty prefix. `scratch` holds at least pods_per_key entries x2. */
void fp__precise_score(const fp__precise *ix, const uint64_t *k, size_t n,
                       void (*out)(void *ctx, uint32_t ep, double w), void *ctx);

#endif
