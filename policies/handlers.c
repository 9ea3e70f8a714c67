/*
 * handlers.c: profile handlers (which scheduling profiles run for a request) and the
 * P/D deciders of llm-d (R/.../scheduling/profilehandler/{single,disagg,headerprofile}).
 *
 *   single-profile-handler  runs the only profile
 *   disagg-profile-handler  stageOrder decode-first (default): run "decode" (the request
 *                           fails without a decode pick); if an encode decider approves,
 *                           run "encode"; if the prefill decider approves given the
 *                           decode pick, run "prefill". prefill-first: run prefill, then
 *                           decode. Profile names under profiles.{decode,prefill,encode},
 *                           deciders under deciders.{prefill,encode}; a stage without a
 *                           decider never runs. Decode is the primary profile.
 *   header-profile-handler  runs the profile named by a request header (EPP-Profile),
 *                           defaultProfile (decode) when the header is absent
 *   prefix-based-pd-decider disaggregate when the prompt's uncached tokens on the decode
 *                           pick, n - matchBlocks * blockSize, reach nonCachedTokens
 *                           (0 = never; also never when n < nonCachedTokens or, with
 *                           promptTokens > 0, when n < promptTokens)
 *   always-disagg-pd-decider        always
 *   always-disagg-multimodal-decider when the request has multimodal content
 *
 * Workload: once per pick; cost is the profiles they run.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fp_plugins.h"

#define NAME_MAX_LEN 256

static fu_ynode root_of(fp__loader *ld) { return fu_yaml_root(ld->doc); }

/* ------------------------------------------------------------------ single */

static int single_link(fp__loader *ld, fp__plugin *me, char **err)
{
    if (ld->p->nprofiles != 1)
        return fp__fail(err, me->at, "single-profile-handler '%s' needs exactly one "
                        "scheduling profile, got %zu", me->name, ld->p->nprofiles);
    return 0;
}

static int single_handle(void *self, fp__cycle *cy)
{
    (void)self;
    int r = fp__run_profile(cy, 0);
    if (r < 0)
        return r;
    cy->primary_run = r;
    return 0;
}

const fp__ops fp__ops_single_handler = {
    .type = "single-profile-handler", .kind = FP__HANDLER, .create = fp__no_params,
    .link = single_link, .handle = single_handle,
};

/* ------------------------------------------------------------------ disagg */

typedef struct disagg {
    char decode[NAME_MAX_LEN], prefill[NAME_MAX_LEN], encode[NAME_MAX_LEN];
    char prefill_decider[NAME_MAX_LEN], encode_decider[NAME_MAX_LEN];
    char stageOrder[32];
    fu_ynode at;
    int decode_ix, prefill_ix, encode_ix;
    fp__plugin *pd, *ed;
    bool prefill_first;
} disagg;

static const fu_yfield profiles_fields[] = {
    { "decode", FU_Y_STR, offsetof(disagg, decode), NAME_MAX_LEN, 0, 0, 0, "decode profile" },
    { "prefill", FU_Y_STR, offsetof(disagg, prefill), NAME_MAX_LEN, 0, 0, 0, "prefill profile" },
    { "encode", FU_Y_STR, offsetof(disagg, encode), NAME_MAX_LEN, 0, 0, 0, "encode profile" },
    { NULL },
};

static const fu_yfield deciders_fields[] = {
    { "prefill", FU_Y_STR, offsetof(disagg, prefill_decider), NAME_MAX_LEN, 0, 0, 0,
      "the prefill decider plugin" },
    { "encode", FU_Y_STR, offsetof(disagg, encode_decider), NAME_MAX_LEN, 0, 0, 0,
      "the encode decider plugin" },
    { NULL },
};

static const fu_yfield disagg_fields[] = {
    { "stageOrder", FU_Y_STR, offsetof(disagg, stageOrder), 32, 0, 0, 0,
      "decode-first or prefill-first" },
    { NULL },
};

static int disagg_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    static const char *const sub[] = { "profiles", "deciders", NULL };
    disagg c = { .at = params };
    strcpy(c.decode, "decode");
    strcpy(c.prefill, "prefill");
    strcpy(c.encode, "encode");
    strcpy(c.stageOrder, "decode-first");
    (void)ld;
    if (fp__params(params, "disagg-profile-handler", disagg_fields, sub, &c, err) ||
        fp__params(fu_ymap_get(params, "profiles"), "disagg-profile-handler profiles",
                   profiles_fields, NULL, &c, err) ||
        fp__params(fu_ymap_get(params, "deciders"), "disagg-profile-handler deciders",
                   deciders_fields, NULL, &c, err))
        return -EINVAL;
    c.prefill_first = strcmp(c.stageOrder, "prefill-first") == 0;
    if (!c.prefill_first && strcmp(c.stageOrder, "decode-first") != 0)
        return fp__fail(err, fu_ymap_get(params, "stageOrder"),
                        "unknown stageOrder '%s' (expected decode-first or prefill-first)",
                        c.stageOrder);
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static int find_decider(fp__loader *ld, const disagg *c, const char *stage, const char *name,
                        fp__plugin **out, char **err)
{
    *out = NULL;
    if (!name[0])
        return 0;
    fu_ynode at = fu_ymap_get(fu_ymap_get(c->at, "deciders"), stage);
    fp__plugin *pl = fp__find_plugin(ld, name);
    if (!pl)
        return fp__fail(err, at, "decider '%s' names no plugin declared under plugins", name);
    if (!(pl->ops->kind & FP__DECIDER))
        return fp__fail(err, at, "plugin '%s' (%s) is not a decider", name, pl->ops->type);
    *out = pl;
    return 0;
}

static int need_profile(fp__loader *ld, const disagg *c, const char *name, const char *why,
                        char **err)
{
    int ix = fp__profile_find(ld->p, name);
    if (ix < 0)
        return fp__fail(err, c->at, "disagg-profile-handler: no scheduling profile named '%s' "
                        "(%s)", name, why);
    return ix;
}

static int disagg_link(fp__loader *ld, fp__plugin *me, char **err)
{
    disagg *c = me->self;
    if ((c->decode_ix = need_profile(ld, c, c->decode, "the decode stage", err)) < 0)
        return -EINVAL;
    if (find_decider(ld, c, "prefill", c->prefill_decider, &c->pd, err) ||
        find_decider(ld, c, "encode", c->encode_decider, &c->ed, err))
        return -EINVAL;
    c->prefill_ix = fp__profile_find(ld->p, c->prefill);
    c->encode_ix = fp__profile_find(ld->p, c->encode);
    if ((c->pd || c->prefill_first) && c->prefill_ix < 0)
        return need_profile(ld, c, c->prefill, "the prefill stage is enabled", err);
    if (c->ed && c->encode_ix < 0)
        return need_profile(ld, c, c->encode, "the encode stage is enabled", err);
    return 0;
}

static bool decide(fp__plugin *d, fp__cycle *cy, uint32_t decode)
{
    return d && d->ops->decide(d->self, cy, decode);
}

static int disagg_handle(void *self, fp__cycle *cy)
{
    const disagg *c = self;
    if (c->prefill_first) {
        int pr = fp__run_profile(cy, (size_t)c->prefill_ix);
        if (pr == -ENOMEM)
            return pr;
        cy->prefill_run = pr;
    }
    int d = fp__run_profile(cy, (size_t)c->decode_ix);
    if (d < 0)
        return d;
    cy->primary_run = d;
    uint32_t dep = cy->runs[d].targets[0];
    if (c->ed && decide(c->ed, cy, dep) && fp__run_profile(cy, (size_t)c->encode_ix) == -ENOMEM)
        return -ENOMEM;
    if (!c->prefill_first && decide(c->pd, cy, dep)) {
        int pr = fp__run_profile(cy, (size_t)c->prefill_ix);
        if (pr == -ENOMEM)
            return pr;
        cy->prefill_run = pr;   /* a failed prefill run leaves the request aggregated */
    }
    return 0;
}

const fp__ops fp__ops_disagg_handler = {
    .type = "disagg-profile-handler", .kind = FP__HANDLER, .create = disagg_create,
    .link = disagg_link, .destroy = free, .handle = disagg_handle,
};

/* ------------------------------------------------------------------ header-profile */

typedef struct header_prof {
    char headerName[NAME_MAX_LEN];
    char defaultProfile[NAME_MAX_LEN];
} header_prof;

static const fu_yfield header_prof_fields[] = {
    { "headerName", FU_Y_STR, offsetof(header_prof, headerName), NAME_MAX_LEN, 0, 0, 0,
      "request header naming the profile" },
    { "defaultProfile", FU_Y_STR, offsetof(header_prof, defaultProfile), NAME_MAX_LEN, 0, 0, 0,
      "profile run without the header" },
    { NULL },
};

static int header_prof_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    header_prof c;
    strcpy(c.headerName, "EPP-Profile");
    strcpy(c.defaultProfile, "decode");
    (void)ld;
    if (fp__params(params, "header-profile-handler", header_prof_fields, NULL, &c, err))
        return -EINVAL;
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static int header_prof_handle(void *self, fp__cycle *cy)
{
    const header_prof *c = self;
    int ix = 0;
    if (cy->p->nprofiles > 1) {
        const char *h = fp__header(cy->req, c->headerName);
        const char *name = h && *h ? h : c->defaultProfile;
        if ((ix = fp__profile_find(cy->p, name)) < 0) {
            cy->msg = fu_asprintf("header-profile-handler: no scheduling profile named '%s'%s",
                                  name, h && *h ? "" : " (the default profile)");
            return -ENOENT;
        }
    }
    int r = fp__run_profile(cy, (size_t)ix);
    if (r < 0)
        return r;
    cy->primary_run = r;
    return 0;
}

const fp__ops fp__ops_header_handler = {
    .type = "header-profile-handler", .kind = FP__HANDLER, .create = header_prof_create,
    .destroy = free, .handle = header_prof_handle,
};

/* ------------------------------------------------------------------ deciders */

typedef struct prefix_pd {
    int nonCachedTokens;
    int promptTokens;
    fp__plugin *src;
} prefix_pd;

static const fu_yfield prefix_pd_fields[] = {
    { "nonCachedTokens", FU_Y_INT, offsetof(prefix_pd, nonCachedTokens), 0, 0, 1e9, 0,
      "uncached prompt tokens from which prefill runs apart (0 = never)" },
    { "promptTokens", FU_Y_INT, offsetof(prefix_pd, promptTokens), 0, 0, 1e9, 0,
      "prompt tokens below which prefill never runs apart (0 = no such gate)" },
    { NULL },
};

static int prefix_pd_create(fp__loader *ld, fu_ynode params, void **self, char **err)
{
    prefix_pd c = { 0, 0, NULL };
    (void)ld;
    if (fp__params(params, "prefix-based-pd-decider", prefix_pd_fields, NULL, &c, err))
        return -EINVAL;
    if (!(*self = malloc(sizeof c)))
        return -ENOMEM;
    memcpy(*self, &c, sizeof c);
    return 0;
}

static int prefix_pd_link(fp__loader *ld, fp__plugin *me, char **err)
{
    prefix_pd *c = me->self;
    return fp__prefix_ref(ld, NULL, root_of(ld), &c->src, err);
}

static bool prefix_pd_decide(void *self, fp__cycle *cy, uint32_t decode)
{
    const prefix_pd *c = self;
    if (c->nonCachedTokens == 0)
        return false;
    double n = cy->prompt_tokens;
    if ((c->promptTokens > 0 && n < c->promptTokens) || n < c->nonCachedTokens)
        return false;
    const fp__prefix_src *s = c->src->self;
    double uncached = n - fp__match(s, decode) * s->block_size;
    return uncached >= c->nonCachedTokens;
}

static bool always_decide(void *self, fp__cycle *cy, uint32_t decode)
{
    (void)self, (void)cy, (void)decode;
    return true;
}

static bool multimodal_decide(void *self, fp__cycle *cy, uint32_t decode)
{
    (void)self, (void)decode;
    return cy->req->multimodal;
}

const fp__ops fp__ops_prefix_pd_decider = {
    .type = "prefix-based-pd-decider", .kind = FP__DECIDER, .create = prefix_pd_create,
    .link = prefix_pd_link, .destroy = free, .decide = prefix_pd_decide,
};
const fp__ops fp__ops_always_pd_decider = {
    .type = "always-disagg-pd-decider", .kind = FP__DECIDER, .create = fp__no_params,
    .decide = always_decide,
};
const fp__ops fp__ops_always_mm_decider = {
    .type = "always-disagg-multimodal-decider", .kind = FP__DECIDER, .create = fp__no_params,
    .decide = multimodal_decide,
};
