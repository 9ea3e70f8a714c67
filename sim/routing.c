/*
 * routing.c: libfleetpolicy driven by the simulated cluster (see routing.h).
 *
 * Everything the policy is told comes from simulated time and the scenario's seed, so a
 * run is reproducible: the random stream is the policy's own xoshiro256** seeded from
 * the scenario (fp_rng_seed), and the policy reads no clock.
 */
#include "routing.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleetpolicy.h"
#include "fu_yaml.h"

#define MAX_GROUPS 16
#define NO_EP UINT32_MAX
#define NCLASSES 64

_Static_assert(sizeof(fp_segment) == sizeof(ft_segment) &&
                   offsetof(fp_segment, len) == offsetof(ft_segment, len),
               "fp_segment and ft_segment share one layout");

/* One policy instance over the replicas of a set of pools. */
typedef struct group {
    uint64_t pool_mask;
    fp_policy *policy;
    bool wants_keys;         /* has a precise prefix index: give it engine block keys */
    uint32_t *rep_ep;        /* replica -> endpoint id, NO_EP when not a member */
    int *ep_rep;             /* endpoint id -> replica */
} group;

struct fs_routing {
    const fs_scenario *sc;
    const fs_route_target *t;
    int n;
    group groups[MAX_GROUPS];
    int ngroups;
    int class_group[NCLASSES];   /* -1 = not built yet, -2 = no pool serves it */
    fp_rng rng;
    bool kv_events;              /* the policy reads engine KV events (block keys) */
    char (*names)[48];           /* endpoint names, per replica */
    uint64_t *keys;              /* scratch: the prompt's engine block keys */
    size_t keys_cap;
};

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

static int load_policy(const fs_scenario *sc, fp_policy **out, char **err)
{
    if (sc->router.config_path[0])
        return fp_policy_load_file(sc->router.config_path, out, err);
    return fp_policy_builtin(sc->router.policy, out, err);
}

/* Adds replica `rep` to group g as an endpoint labelled with its pool's role and labels. */
static int add_endpoint(fs_routing *rt, group *g, int rep, char **err)
{
    const fs_pool *p = &rt->sc->pools[rt->t[rep].pool];
    fp_label labels[FS_MAX_LABELS + 1];
    labels[0] = (fp_label){"llm-d.ai/role", fs_role_name(p->role)};
    for (int i = 0; i < p->nlabels; i++)
        labels[i + 1] = (fp_label){p->labels[i].key, p->labels[i].value};
    fp_endpoint_desc d = {.name = rt->names[rep], .labels = labels,
                          .nlabels = (size_t)p->nlabels + 1};
    uint32_t id;
    int rc = fp_endpoint_add(g->policy, &d, &id, err);
    if (rc == 0) {
        g->rep_ep[rep] = id;
        g->ep_rep[id] = rep;
    }
    return rc;
}

static void group_free(group *g)
{
    fp_policy_free(g->policy);
    free(g->rep_ep);
    free(g->ep_rep);
}

static int group_init(fs_routing *rt, group *g, uint64_t pool_mask, char **err)
{
    g->pool_mask = pool_mask;
    g->rep_ep = malloc((size_t)rt->n * sizeof *g->rep_ep);
    g->ep_rep = malloc((size_t)rt->n * sizeof *g->ep_rep);
    if (!g->rep_ep || !g->ep_rep)
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    int rc = load_policy(rt->sc, &g->policy, err);
    if (rc == 0)
        g->wants_keys = fp_policy_uses_block_keys(g->policy);
    for (int i = 0; rc == 0 && i < rt->n; i++) {
        g->rep_ep[i] = NO_EP;
        if (pool_mask & (UINT64_C(1) << rt->t[i].pool))
            rc = add_endpoint(rt, g, i, err);
    }
    return rc;
}

/* The pools that serve class c. */
static uint64_t pools_for_class(const fs_scenario *sc, int c)
{
    uint64_t m = 0;
    for (int i = 0; i < sc->npools; i++)
        if (sc->pools[i].class_mask == 0 || (sc->pools[i].class_mask >> c) & 1)
            m |= UINT64_C(1) << i;
    return m;
}

/* The group serving class c, made on first use; -1 when no pool serves c. */
static int group_for_class(fs_routing *rt, int c)
{
    if (c < 0 || c >= NCLASSES)
        c = 0;
    if (rt->class_group[c] != -1)
        return rt->class_group[c] >= 0 ? rt->class_group[c] : -1;
    uint64_t mask = pools_for_class(rt->sc, c);
    int g = -2;
    for (int i = 0; mask && i < rt->ngroups && g < 0; i++)
        if (rt->groups[i].pool_mask == mask)
            g = i;
    if (mask && g < 0 && rt->ngroups < MAX_GROUPS) {
        group *ng = &rt->groups[rt->ngroups];
        if (group_init(rt, ng, mask, NULL) == 0)
            g = rt->ngroups++;
        else
            group_free(ng), memset(ng, 0, sizeof *ng);
    }
    rt->class_group[c] = g;
    return g >= 0 ? g : -1;
}

int fs_routing_new(const fs_scenario *sc, const fs_route_target *targets, int n,
                   uint64_t seed, fs_routing **out, char **err)
{
    fs_routing *rt = calloc(1, sizeof *rt);
    if (!rt || !(rt->names = calloc((size_t)n, sizeof *rt->names))) {
        free(rt);
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    }
    rt->sc = sc;
    rt->t = targets;
    rt->n = n;
    memset(rt->class_group, 0xff, sizeof rt->class_group);
    fp_rng_seed(&rt->rng, seed);
    int index = 0;
    for (int i = 0; i < n; i++) {
        index = i > 0 && targets[i].pool == targets[i - 1].pool ? index + 1 : 0;
        snprintf(rt->names[i], sizeof rt->names[i], "%s/%d", sc->pools[targets[i].pool].name,
                 index);
    }
    /* Load the policy once now, so that a bad config fails before the run starts. */
    fp_policy *probe = NULL;
    int rc = load_policy(sc, &probe, err);
    rt->kv_events = rc == 0 && n > 1 && fp_policy_uses_block_keys(probe);
    fp_policy_free(probe);
    if (rc) {
        fs_routing_free(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

void fs_routing_free(fs_routing *rt)
{
    if (!rt)
        return;
    for (int i = 0; i < rt->ngroups; i++)
        group_free(&rt->groups[i]);
    free(rt->names);
    free(rt->keys);
    free(rt);
}

bool fs_routing_trivial(const fs_routing *rt) { return rt->n == 1; }

bool fs_routing_wants_kv_events(const fs_routing *rt) { return rt->kv_events; }

/* The prompt's full-block keys as the engines name them (precise prefix index). */
static size_t block_keys(fs_routing *rt, const ft_request *req, uint32_t bs)
{
    size_t need = req->input_tokens / bs;
    if (need > rt->keys_cap) {
        uint64_t *k = realloc(rt->keys, need * sizeof *k);
        if (!k)
            return 0;
        rt->keys = k;
        rt->keys_cap = need;
    }
    return ft_block_hashes(req->segs, req->nsegs, bs, FS_ENGINE_HASH_SEED, rt->keys, need);
}

int fs_routing_pick(fs_routing *rt, uint64_t id, const ft_request *req, fs_ns now,
                    fs_route *out)
{
    out->decode = out->prefill = -1;
    if (rt->n == 1) {
        uint32_t mask = rt->sc->pools[0].class_mask;
        if (mask != 0 && !((mask >> req->cls) & 1))
            return -ENOENT;
        out->decode = 0;
        return 0;
    }
    int gi = group_for_class(rt, req->cls);
    if (gi < 0)
        return -ENOENT;
    group *g = &rt->groups[gi];
    uint32_t bs = (uint32_t)rt->sc->pools[0].engine.block_size;
    fp_request fr = {
        .id = id, .model = rt->sc->llm.name, .segs = (const fp_segment *)req->segs,
        .nsegs = req->nsegs, .prompt_tokens = req->input_tokens,
        .max_tokens = req->output_tokens, .session = req->session,
        .block_keys = rt->keys, .block_keys_size = bs,
    };
    if (g->wants_keys)
        fr.nblock_keys = block_keys(rt, req, bs);
    else
        fr.block_keys = NULL;
    fp_result res;
    int rc = fp_pick(g->policy, &fr, now, &rt->rng, &res, NULL);
    if (rc)
        return rc;
    out->decode = g->ep_rep[res.decode];
    out->prefill = res.prefill >= 0 ? g->ep_rep[res.prefill] : -1;
    return 0;
}

void fs_routing_first_token(fs_routing *rt, uint64_t id, fs_ns now)
{
    for (int i = 0; i < rt->ngroups; i++)
        if (fp_request_first_token(rt->groups[i].policy, id, now) == 0)
            return;
}

void fs_routing_end(fs_routing *rt, uint64_t id, fs_ns now)
{
    for (int i = 0; i < rt->ngroups; i++)
        if (fp_request_end(rt->groups[i].policy, id, now) == 0)
            return;
}

void fs_routing_refresh(fs_routing *rt, fs_ns now)
{
    for (int r = 0; r < rt->n; r++) {
        fs_engine_stats st;
        fs_engine_get_stats(rt->t[r].engine, &st);
        const fs_engine_config *c = fs_engine_get_config(rt->t[r].engine);
        fp_metrics m = {.waiting = st.waiting, .running = st.running, .kv_usage = st.kv_usage,
                        .block_size = (uint32_t)c->block_size,
                        .num_blocks = (uint32_t)c->num_blocks, .updated_ns = now};
        for (int i = 0; i < rt->ngroups; i++)
            if (rt->groups[i].rep_ep[r] != NO_EP)
                fp_endpoint_update(rt->groups[i].policy, rt->groups[i].rep_ep[r], &m);
    }
}

void fs_routing_kv_stored(fs_routing *rt, int rep, uint64_t hash)
{
    for (int i = 0; i < rt->ngroups; i++)
        if (rt->groups[i].wants_keys && rt->groups[i].rep_ep[rep] != NO_EP)
            fp_kv_stored(rt->groups[i].policy, rt->groups[i].rep_ep[rep], &hash, 1, FP_TIER_GPU);
}

void fs_routing_kv_removed(fs_routing *rt, int rep, uint64_t hash)
{
    for (int i = 0; i < rt->ngroups; i++)
        if (rt->groups[i].wants_keys && rt->groups[i].rep_ep[rep] != NO_EP)
            fp_kv_removed(rt->groups[i].policy, rt->groups[i].rep_ep[rep], &hash, 1,
                          FP_TIER_GPU);
}
