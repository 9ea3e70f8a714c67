/*
 * pickers.c: llm-d's pickers and the baselines users compare llm-d against.
 *
 *   max-score-picker       the highest weighted score; maxNumOfEndpoints (1) best, the rest
 *                          as fallbacks. llm-d shuffles then stable-sorts, so equal scores
 *                          are ordered at random; here that randomness comes from the
 *                          caller's seeded source, so ties are broken deterministically
 *                          for a given seed. (Rejected: llm-d PR #2515's round-robin
 *                          rotation through a process-wide counter; it makes a decision
 *                          depend on every earlier tie anywhere in the process.)
 *   random-picker          uniform choice (partial Fisher-Yates for several endpoints)
 *   weighted-random-picker A-Res sampling: key = U^(1/score), largest keys win; with no
 *                          positive score it behaves as random-picker
 *   round-robin-picker     baseline: a Kubernetes Service with IPVS round-robin
 *   least-outstanding-requests-picker
 *                          baseline: fewest requests in flight, ties at random
 *
 * Workload: once per profile per pick. With one endpoint to return (the default) every
 * picker is one pass and draws at most one random number (weighted-random draws one per
 * positive score, as A-Res must); several endpoints cost a sort.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fp_plugins.h"

typedef struct picker {
    int maxNumOfEndpoints;
    uint64_t counter;      /* round-robin position */
} picker;

static const fu_yfield picker_fields[] = {
    { "maxNumOfEndpoints", FU_Y_INT, offsetof(picker, maxNumOfEndpoints), 0, -1e9, 1e9, 0,
      "endpoints returned, best first (the rest are fallbacks)" },
    { NULL },
};

static int picker_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    picker c = { .maxNumOfEndpoints = 1 };
    if (fp__params(params, ld->current->ops->type, picker_fields, NULL, &c, err))
        return -EINVAL;
    if (c.maxNumOfEndpoints <= 0)       /* llm-d falls back to the default */
        c.maxNumOfEndpoints = 1;
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static size_t want(const picker *c, size_t n)
{
    return (size_t)c->maxNumOfEndpoints < n ? (size_t)c->maxNumOfEndpoints : n;
}

static void shuffle(fp_scored *a, size_t n, fp_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = fp_rng_below(rng, i);
        fp_scored t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Stable descending sort by score (insertion sort into runs merged bottom-up would be
   overkill: several endpoints are only asked for as fallbacks, n stays small). */
static void stable_sort_desc(fp_scored *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        fp_scored x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1].score < x.score; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

/* The best of a[0..n) by `key`, ties broken uniformly with one draw. */
static size_t argmax_ties(const fp_scored *a, size_t n, fp_rng *rng)
{
    double best = a[0].score;
    size_t ties = 1, at = 0;
    for (size_t i = 1; i < n; i++) {
        if (a[i].score > best) {
            best = a[i].score;
            ties = 1;
            at = i;
        } else if (a[i].score == best) {
            ties++;
        }
    }
    if (ties == 1)
        return at;
    size_t r = fp_rng_below(rng, ties);
    for (size_t i = at;; i++)
        if (a[i].score == best && r-- == 0)
            return i;
}

static size_t max_score_pick(void *self, fp__cycle *cy, fp_scored *a, size_t n, uint32_t *out)
{
    size_t k = want(self, n);
    if (k == 1) {
        out[0] = a[argmax_ties(a, n, cy->rng)].id;
        return 1;
    }
    shuffle(a, n, cy->rng);
    stable_sort_desc(a, n);
    for (size_t i = 0; i < k; i++)
        out[i] = a[i].id;
    return k;
}

static size_t random_pick_k(fp_scored *a, size_t n, size_t k, fp_rng *rng, uint32_t *out)
{
    for (size_t i = 0; i < k; i++) {
        size_t j = i + fp_rng_below(rng, n - i);
        fp_scored t = a[i];
        a[i] = a[j];
        a[j] = t;
        out[i] = a[i].id;
    }
    return k;
}

static size_t random_pick(void *self, fp__cycle *cy, fp_scored *a, size_t n, uint32_t *out)
{
    return random_pick_k(a, n, want(self, n), cy->rng, out);
}

static size_t weighted_pick(void *self, fp__cycle *cy, fp_scored *a, size_t n, uint32_t *out)
{
    size_t k = want(self, n);
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = a[i].score > 0;
    if (!any)
        return random_pick_k(a, n, k, cy->rng, out);
    for (size_t i = 0; i < n; i++) {       /* score becomes the A-Res key */
        if (a[i].score <= 0) {
            a[i].score = 0;
            continue;
        }
        double u = fp_rng_uniform(cy->rng);
        a[i].score = pow(u > 0 ? u : 1e-10, 1.0 / a[i].score);
    }
    if (k == 1) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (a[i].score > a[best].score)
                best = i;
        out[0] = a[best].id;
        return 1;
    }
    stable_sort_desc(a, n);
    for (size_t i = 0; i < k; i++)
        out[i] = a[i].id;
    return k;
}

const fp__ops fp__ops_max_score_picker = {
    .type = "max-score-picker", .kind = FP__PICKER, .create = picker_create, .destroy = free,
    .pick = max_score_pick,
};
const fp__ops fp__ops_random_picker = {
    .type = "random-picker", .kind = FP__PICKER, .create = picker_create, .destroy = free,
    .pick = random_pick,
};
const fp__ops fp__ops_weighted_random_picker = {
    .type = "weighted-random-picker", .kind = FP__PICKER, .create = picker_create,
    .destroy = free, .pick = weighted_pick,
};

/* ------------------------------------------------------------------ baselines */

static size_t round_robin_pick(void *self, fp__cycle *cy, fp_scored *a, size_t n, uint32_t *out)
{
    picker *c = self;
    (void)cy;
    out[0] = a[c->counter++ % n].id;
    return 1;
}

static size_t lor_pick(void *self, fp__cycle *cy, fp_scored *a, size_t n, uint32_t *out)
{
    (void)self;
    for (size_t i = 0; i < n; i++)   /* fewer in flight = higher score */
        a[i].score = -(double)cy->p->eps[a[i].id].inflight_requests;
    out[0] = a[argmax_ties(a, n, cy->rng)].id;
    return 1;
}

static int no_params_picker(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    int rc = fp__no_params(ld, params, self, err);
    if (rc == 0 && !(*self = calloc(1, sizeof(picker))))
        return -ENOMEM;
    return rc;
}

const fp__ops fp__ops_round_robin_picker = {
    .type = "round-robin-picker", .kind = FP__PICKER, .create = no_params_picker,
    .destroy = free, .pick = round_robin_pick,
};
const fp__ops fp__ops_lor_picker = {
    .type = "least-outstanding-requests-picker", .kind = FP__PICKER, .create = no_params_picker,
    .destroy = free, .pick = lor_pick,
};
