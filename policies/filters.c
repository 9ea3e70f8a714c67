/*
 * filters.c: llm-d's filters. A filter keeps a subset of the candidates, in order; a
 * profile whose filters leave nothing fails (llm-d: ResourceExhausted, answered 503).
 *
 *   decode-filter     llm-d.ai/role in {decode, prefill-decode, both,
 *                     encode-prefill-decode}, or no role label
 *   prefill-filter    role in {prefill, encode-prefill, prefill-decode, both,
 *                     encode-prefill-decode}
 *   encode-filter     role in {encode, encode-prefill, encode-prefill-decode}
 *   label-selector-filter  a Kubernetes label selector (matchLabels, matchExpressions
 *                     with In, NotIn, Exists, DoesNotExist)
 *   prefix-cache-affinity-filter  keeps the "sticky" endpoints whose prefix hit is at
 *                     least affinityThreshold (0.8); keeps all when none is sticky, with
 *                     probability explorationProbability (0), or when the best sticky
 *                     endpoint's estimated TTFT (in-flight tokens / peakPrefillThroughput
 *                     (15,928 tok/s)) exceeds the best other one's by more than
 *                     maxTTFTPenaltyMs (18,000; 0 = always stick): the saturation valve.
 *
 * Workload: once per profile per pick over up to ~1,000 candidates; one pass each.
 * Role membership is decoded once when an endpoint joins (fp__ep.roles).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fp_plugins.h"

#define NAME_MAX_LEN 256

/* ------------------------------------------------------------------ role filters */

static size_t keep_roles(fp__cycle *cy, uint32_t *ids, size_t n, unsigned roles)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (cy->p->eps[ids[i]].roles & roles)
            ids[k++] = ids[i];
    return k;
}

static size_t decode_filter(void *self, fp__cycle *cy, uint32_t *ids, size_t n)
{
    (void)self;
    return keep_roles(cy, ids, n, FP__ROLE_DECODE | FP__ROLE_NONE);
}

static size_t prefill_filter(void *self, fp__cycle *cy, uint32_t *ids, size_t n)
{
    (void)self;
    return keep_roles(cy, ids, n, FP__ROLE_PREFILL);
}

static size_t encode_filter(void *self, fp__cycle *cy, uint32_t *ids, size_t n)
{
    (void)self;
    return keep_roles(cy, ids, n, FP__ROLE_ENCODE);
}

const fp__ops fp__ops_decode_filter = {
    .type = "decode-filter", .kind = FP__FILTER, .create = fp__no_params, .filter = decode_filter,
};
const fp__ops fp__ops_prefill_filter = {
    .type = "prefill-filter", .kind = FP__FILTER, .create = fp__no_params,
    .filter = prefill_filter,
};
const fp__ops fp__ops_encode_filter = {
    .type = "encode-filter", .kind = FP__FILTER, .create = fp__no_params, .filter = encode_filter,
};

/* ------------------------------------------------------------------ label-selector-filter */

enum { OP_IN, OP_NOT_IN, OP_EXISTS, OP_NOT_EXISTS };

typedef struct requirement {
    char *key;
    int op;
    char **values;
    size_t nvalues;
} requirement;

typedef struct selector {
    requirement *reqs;
    size_t n;
} selector;

static void selector_destroy(void *self)
{
    selector *s = self;
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->reqs[i].nvalues; j++)
            free(s->reqs[i].values[j]);
        free(s->reqs[i].values);
        free(s->reqs[i].key);
    }
    free(s->reqs);
    free(s);
}

static requirement *new_req(selector *s, const char *key, int op)
{
    requirement *a = realloc(s->reqs, (s->n + 1) * sizeof *a);
    if (!a)
        return NULL;
    s->reqs = a;
    requirement *r = &a[s->n];
    *r = (requirement){ strdup(key), op, NULL, 0 };
    if (!r->key)
        return NULL;
    s->n++;
    return r;
}

static int add_value(requirement *r, const char *v)
{
    char **a = realloc(r->values, (r->nvalues + 1) * sizeof *a);
    if (!a)
        return -ENOMEM;
    r->values = a;
    if (!(a[r->nvalues] = strdup(v)))
        return -ENOMEM;
    r->nvalues++;
    return 0;
}

static int parse_match_labels(selector *s, fu_ynode m, char **err)
{
    if (!fu_ynode_is_map(m))
        return fp__fail(err, m, "expected matchLabels as a mapping of label: value");
    for (size_t i = 0; i < fu_ynode_len(m); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(m, i)), *v = fu_ynode_str(fu_ymap_val(m, i));
        if (!k || !v)
            return fp__fail(err, fu_ymap_key(m, i), "expected label: value in matchLabels");
        requirement *r = new_req(s, k, OP_IN);
        if (!r || add_value(r, v))
            return -ENOMEM;
    }
    return 0;
}

static int parse_op(const char *op)
{
    static const char *const ops[] = { "In", "NotIn", "Exists", "DoesNotExist" };
    for (int i = 0; i < 4; i++)
        if (op && strcmp(op, ops[i]) == 0)
            return i;
    return -1;
}

static int parse_expression(selector *s, fu_ynode e, char **err)
{
    static const fu_yfield none[] = { { NULL } };
    static const char *const keys[] = { "key", "operator", "values", NULL };
    if (fu_yaml_apply(e, "a matchExpressions entry", none, keys, NULL, err))
        return -EINVAL;
    const char *key = fu_ynode_str(fu_ymap_get(e, "key"));
    int op = parse_op(fu_ynode_str(fu_ymap_get(e, "operator")));
    fu_ynode vals = fu_ymap_get(e, "values");
    if (!key || !*key)
        return fp__fail(err, e, "matchExpressions entry without a key");
    if (op < 0)
        return fp__fail(err, e, "expected operator In, NotIn, Exists or DoesNotExist");
    bool want_values = op == OP_IN || op == OP_NOT_IN;
    if (want_values != (fu_ynode_len(vals) > 0) || (fu_ynode_ok(vals) && !fu_ynode_is_seq(vals)))
        return fp__fail(err, fu_ynode_ok(vals) ? vals : e,
                        want_values ? "operators In and NotIn need a non-empty values list"
                                    : "operators Exists and DoesNotExist take no values");
    requirement *r = new_req(s, key, op);
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < fu_ynode_len(vals); i++) {
        const char *v = fu_ynode_str(fu_yseq_item(vals, i));
        if (!v)
            return fp__fail(err, fu_yseq_item(vals, i), "expected a label value");
        if (add_value(r, v))
            return -ENOMEM;
    }
    return 0;
}

static int selector_parse(selector *s, fu_ynode params, char **err)
{
    static const fu_yfield none[] = { { NULL } };
    static const char *const keys[] = { "matchLabels", "matchExpressions", NULL };
    if (fp__params(params, "label-selector-filter", none, keys, NULL, err))
        return -EINVAL;
    fu_ynode ml = fu_ymap_get(params, "matchLabels"), me = fu_ymap_get(params, "matchExpressions");
    if (fu_ynode_ok(ml) && parse_match_labels(s, ml, err))
        return -EINVAL;
    if (fu_ynode_ok(me) && !fu_ynode_is_seq(me))
        return fp__fail(err, me, "expected matchExpressions as a sequence");
    for (size_t i = 0; i < fu_ynode_len(me); i++)
        if (parse_expression(s, fu_yseq_item(me, i), err))
            return -EINVAL;
    return 0;
}

static int selector_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    selector *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    (void)ld;
    int rc = selector_parse(s, params, err);
    if (rc) {
        selector_destroy(s);
        if (rc == -ENOMEM && err && !*err)
            *err = fu_asprintf("out of memory");
        return rc == -ENOMEM ? -ENOMEM : -EINVAL;
    }
    *self = s;
    return 0;
}

static bool matches(const requirement *r, const fp__ep *e)
{
    const char *v = fp__label(e, r->key);
    if (r->op == OP_EXISTS || r->op == OP_NOT_EXISTS)
        return (v != NULL) == (r->op == OP_EXISTS);
    bool in = false;
    for (size_t i = 0; v && i < r->nvalues && !in; i++)
        in = strcmp(v, r->values[i]) == 0;
    return r->op == OP_IN ? in : !in;
}

static size_t selector_filter(void *self, fp__cycle *cy, uint32_t *ids, size_t n)
{
    const selector *s = self;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = true;
        for (size_t j = 0; j < s->n && ok; j++)
            ok = matches(&s->reqs[j], &cy->p->eps[ids[i]]);
        if (ok)
            ids[k++] = ids[i];
    }
    return k;
}

const fp__ops fp__ops_label_selector_filter = {
    .type = "label-selector-filter", .kind = FP__FILTER, .create = selector_create,
    .destroy = selector_destroy, .filter = selector_filter,
};

/* ------------------------------------------------------------------ prefix-cache-affinity-filter */

typedef struct affinity {
    double affinityThreshold;
    double explorationProbability;
    double maxTTFTPenaltyMs;
    char ttftSource[32];
    double peakPrefillThroughput;
    char prefixMatchInfoProducerName[NAME_MAX_LEN];
    char inFlightLoadProducerName[NAME_MAX_LEN];
    fu_ynode at;
    fp__plugin *src;
} affinity;

static const fu_yfield affinity_fields[] = {
    { "affinityThreshold", FU_Y_DOUBLE, offsetof(affinity, affinityThreshold), 0, 0, 1, 0,
      "prefix hit ratio that makes an endpoint sticky" },
    { "explorationProbability", FU_Y_DOUBLE, offsetof(affinity, explorationProbability), 0, 0, 1,
      0, "probability of skipping the filter" },
    { "maxTTFTPenaltyMs", FU_Y_DOUBLE, offsetof(affinity, maxTTFTPenaltyMs), 0, 0, 1e12, 0,
      "TTFT excess of sticky endpoints that breaks stickiness, ms (0 = always stick)" },
    { "ttftSource", FU_Y_STR, offsetof(affinity, ttftSource), 32, 0, 0, 0,
      "prefillThroughput (the latency predictor is not available)" },
    { "peakPrefillThroughput", FU_Y_DOUBLE, offsetof(affinity, peakPrefillThroughput), 0, 1e-9,
      1e12, 0, "tokens per second of prefill, for the TTFT estimate" },
    { "prefixMatchInfoProducerName", FU_Y_STR, offsetof(affinity, prefixMatchInfoProducerName),
      NAME_MAX_LEN, 0, 0, 0, "the prefix producer to read" },
    { "inFlightLoadProducerName", FU_Y_STR, offsetof(affinity, inFlightLoadProducerName),
      NAME_MAX_LEN, 0, 0, 0, "the in-flight producer (there is one per policy)" },
    { NULL },
};

static const char *const affinity_unsupported[] = {
    "prefillCalibrationFile", "prefillCalibrationFingerprint", "prefillCalibrationRequired", NULL,
};

static int affinity_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    affinity c = { .affinityThreshold = 0.8, .explorationProbability = 0.0,
                   .maxTTFTPenaltyMs = 18000, .peakPrefillThroughput = 15928, .at = params };
    strcpy(c.ttftSource, "prefillThroughput");
    (void)ld;
    if (fp__params(params, "prefix-cache-affinity-filter", affinity_fields, affinity_unsupported,
                   &c, err))
        return -EINVAL;
    for (const char *const *k = affinity_unsupported; *k && fu_ynode_ok(params); k++)
        if (fu_ynode_ok(fu_ymap_get(params, *k)))
            return fp__fail(err, fu_ymap_get(params, *k), "%s is not supported: set "
                            "peakPrefillThroughput instead", *k);
    if (strcmp(c.ttftSource, "prefillThroughput") != 0)
        return fp__fail(err, fu_ymap_get(params, "ttftSource"),
                        "ttftSource '%s' is not supported (expected prefillThroughput; there is "
                        "no latency predictor)", c.ttftSource);
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static int affinity_link(fp__loader *ld, fp__plugin *me, char **err)
{
    affinity *c = me->self;
    return fp__prefix_ref(ld, c->prefixMatchInfoProducerName, c->at, &c->src, err);
}

static double ttft_ms(const affinity *c, const fp__ep *e)
{
    return (double)e->inflight_tokens / c->peakPrefillThroughput * 1000.0;
}

static size_t affinity_filter(void *self, fp__cycle *cy, uint32_t *ids, size_t n)
{
    const affinity *c = self;
    const fp__prefix_src *s = c->src->self;
    double best_sticky = 1e300, best_other = 1e300;
    size_t nsticky = 0;
    for (size_t i = 0; i < n; i++) {
        double t = ttft_ms(c, &cy->p->eps[ids[i]]);
        if (fp__hit(s, ids[i]) >= c->affinityThreshold) {
            nsticky++;
            best_sticky = t < best_sticky ? t : best_sticky;
        } else {
            best_other = t < best_other ? t : best_other;
        }
    }
    if (nsticky == 0)
        return n;
    if (c->explorationProbability > 0 && fp_rng_uniform(cy->rng) < c->explorationProbability)
        return n;
    if (c->maxTTFTPenaltyMs > 0 && nsticky < n && best_sticky - best_other > c->maxTTFTPenaltyMs)
        return n;                                  /* the saturation valve */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (fp__hit(s, ids[i]) >= c->affinityThreshold)
            ids[k++] = ids[i];
    return k;
}

const fp__ops fp__ops_prefix_affinity_filter = {
    .type = "prefix-cache-affinity-filter", .kind = FP__FILTER, .create = affinity_create,
    .link = affinity_link, .destroy = free, .filter = affinity_filter,
};
