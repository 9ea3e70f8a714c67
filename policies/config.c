/*
 * config.c: the EndpointPickerConfig loader. Reads llm-d's own configuration format
 * (apiVersion llm-d.ai/v1alpha1, kind EndpointPickerConfig; R/apix/config/v1alpha1)
 * and builds a policy: plugins from `plugins[{name, type, parameters}]`, profiles from
 * `schedulingProfiles[{name, plugins[{pluginRef, weight}]}]`, with llm-d's loader
 * defaults (R/pkg/epp/config/loader/defaults.go) where fields are absent:
 *  - an empty document is llm-d's default configuration;
 *  - a plugin's name defaults to its type;
 *  - no schedulingProfiles: one profile "default" with every filter, scorer and picker;
 *  - one profile and no profile handler: single-profile-handler;
 *  - a profile without a picker gets the first declared picker, else max-score-picker;
 *  - a scorer without a weight gets 1;
 *  - a consumer of prefix matches gets an approx-prefix-cache-producer if none exists.
 * The other top-level sections (featureGates, dataLayer, flowControl, requestHandler,
 * saturationDetector, parser) are accepted and do not influence picking.
 *
 * Workload: a file of a few dozen lines read once at start-up; clarity of errors
 * matters, speed does not. Every error names file:line:column and what was expected.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp_internal.h"

static const char *const api_versions[] = {
    "llm-d.ai/v1alpha1",
    "inference.networking.x-k8s.io/v1alpha1", /* llm-d configs before the move */
    NULL,
};

static const char *const top_keys[] = {
    "apiVersion", "kind", "featureGates", "plugins", "schedulingProfiles", "dataLayer",
    "flowControl", "requestHandler", "saturationDetector", "parser", NULL,
};

int fp__fail(char **err, fu_ynode n, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    char *full = msg ? fu_ynode_errf(n, "%s", msg) : NULL;
    free(msg);
    if (err)
        *err = full;
    else
        free(full);
    return -EINVAL;
}

int fp__params(fu_ynode params, const char *type, const fu_yfield *fields,
               const char *const *skip, void *base, char **err)
{
    if (!fu_ynode_ok(params))
        return 0;
    char what[128];
    snprintf(what, sizeof what, "the parameters of %s", type);
    return fu_yaml_apply(params, what, fields, skip, base, err);
}

int fp__strdup_opt(const char *s, char **out, char **err)
{
    *out = NULL;
    if (!s || !*s)
        return 0;
    if (!(*out = strdup(s))) {
        if (err)
            *err = fu_asprintf("out of memory");
        return -ENOMEM;
    }
    return 0;
}

static int oom(char **err)
{
    if (err)
        *err = fu_asprintf("out of memory");
    return -ENOMEM;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* ------------------------------------------------------------------ plugins */

fp__plugin *fp__find_plugin(fp__loader *ld, const char *name)
{
    for (size_t i = 0; i < ld->p->nplugins; i++)
        if (strcmp(ld->p->plugins[i]->name, name) == 0)
            return ld->p->plugins[i];
    return NULL;
}

/* Creates a plugin of `ops` named `name` from `params` and appends it. */
static int add_plugin(fp__loader *ld, const fp__ops *ops, const char *name, fu_ynode params,
                      fu_ynode where, fp__plugin **out, char **err)
{
    fp_policy *p = ld->p;
    fp__plugin **arr = realloc(p->plugins, (p->nplugins + 1) * sizeof *arr);
    fp__plugin *pl = calloc(1, sizeof *pl);
    if (arr)
        p->plugins = arr;
    if (!arr || !pl || !(pl->name = strdup(name))) {
        free(pl);
        return oom(err);
    }
    pl->ops = ops;
    pl->at = where;
    pl->line = fu_ynode_line(where);
    pl->col = fu_ynode_col(where);
    fp__plugin *saved = ld->current;
    ld->current = pl;
    int rc = ops->create ? ops->create(ld, params, &pl->self, err) : 0;
    ld->current = saved;
    if (rc) {
        free(pl->name);
        free(pl);
        return rc;
    }
    p->plugins[p->nplugins++] = pl;
    if (out)
        *out = pl;
    return 0;
}

/* Instantiates a plugin the config did not declare (llm-d's registerDefaultPlugin). */
static int add_default(fp__loader *ld, const char *type, fu_ynode params, fp__plugin **out,
                       char **err)
{
    fp__plugin *same = fp__find_plugin(ld, type);
    if (same) {
        if (strcmp(same->ops->type, type) == 0) {
            *out = same;
            return 0;
        }
        return fp__fail(err, fu_yaml_root(ld->doc),
                        "a %s is needed but the name '%s' is taken by a plugin of type %s",
                        type, type, same->ops->type);
    }
    return add_plugin(ld, fp__ops_find(type), type, params, fu_yaml_root(ld->doc), out, err);
}

static char *type_list(void)
{
    size_t len = 1;
    for (const char *const *t = fp_plugin_types(); *t; t++)
        len += strlen(*t) + 2;
    char *s = calloc(1, len);
    for (const char *const *t = fp_plugin_types(); s && *t; t++)
        strcat(strcat(s, *s ? ", " : ""), *t);
    return s;
}

static int load_plugin(fp__loader *ld, fu_ynode item, char **err)
{
    static const char *const keys[] = { "name", "type", "parameters", NULL };
    if (!fu_ynode_is_map(item))
        return fp__fail(err, item, "expected a plugin (a mapping with type, name, parameters)");
    for (size_t i = 0; i < fu_ynode_len(item); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(item, i));
        if (!k || !in_list(keys, k))
            return fp__fail(err, fu_ymap_key(item, i),
                            "unknown key '%s' in a plugin (expected one of: name, type, parameters)",
                            k ? k : "?");
    }
    fu_ynode tn = fu_ymap_get(item, "type"), nn = fu_ymap_get(item, "name");
    const char *type = fu_ynode_str(tn), *name = fu_ynode_str(nn);
    if (!type || !*type)
        return fp__fail(err, fu_ynode_ok(tn) ? tn : item, "plugin without a type (expected type: <plugin type>)");
    const fp__ops *ops = fp__ops_find(type);
    if (!ops) {
        char *list = type_list();
        int rc = fp__fail(err, tn, "unknown plugin type '%s' (known types: %s)", type,
                          list ? list : "?");
        free(list);
        return rc;
    }
    if (fu_ynode_ok(nn) && !name)
        return fp__fail(err, nn, "expected a plugin name (a string)");
    if (!name || !*name)
        name = type;
    fp__plugin *dup = fp__find_plugin(ld, name);
    if (dup)
        return fp__fail(err, fu_ynode_ok(nn) ? nn : tn,
                        "duplicate plugin name '%s' (first declared at line %d)", name, dup->line);
    fu_ynode params = fu_ymap_get(item, "parameters");
    if (fu_ynode_is_scalar(params) && !*fu_ynode_str(params))
        params.n = NULL;   /* "parameters:" with nothing after it */
    if (fu_ynode_ok(params) && !fu_ynode_is_map(params))
        return fp__fail(err, params, "expected the parameters of %s as a mapping", type);
    return add_plugin(ld, ops, name, params, item, NULL, err);
}

static int load_plugins(fp__loader *ld, fu_ynode seq, char **err)
{
    if (!fu_ynode_ok(seq))
        return 0;
    if (!fu_ynode_is_seq(seq))
        return fp__fail(err, seq, "expected plugins as a sequence of plugins");
    for (size_t i = 0; i < fu_ynode_len(seq); i++) {
        int rc = load_plugin(ld, fu_yseq_item(seq, i), err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ profiles */

void fp__profiles_free(fp_policy *p)
{
    for (size_t i = 0; i < p->nprofiles; i++) {
        fp__profile *pr = &p->profiles[i];
        free(pr->name);
        free(pr->filters);
        free(pr->scorers);
        free(pr->ids);
        free(pr->scored);
        free(pr->targets);
    }
    free(p->profiles);
    p->profiles = NULL;
    p->nprofiles = 0;
}

static fp__profile *new_profile(fp_policy *p, const char *name)
{
    fp__profile *a = realloc(p->profiles, (p->nprofiles + 1) * sizeof *a);
    if (!a)
        return NULL;
    p->profiles = a;
    fp__profile *pr = &a[p->nprofiles];
    memset(pr, 0, sizeof *pr);
    if (!(pr->name = strdup(name)))
        return NULL;
    p->nprofiles++;
    return pr;
}

/* Puts plugin pl in profile pr in the slot its kind says. */
static int profile_add(fp__profile *pr, fp__plugin *pl, double weight, fu_ynode where,
                       char **err)
{
    unsigned k = pl->ops->kind;
    if (!(k & (FP__FILTER | FP__SCORER | FP__PICKER)))
        return fp__fail(err, where,
                        "plugin '%s' (%s) is not a filter, scorer or picker and cannot be in a "
                        "scheduling profile", pl->name, pl->ops->type);
    if (k & FP__PICKER) {
        if (pr->picker)
            return fp__fail(err, where, "profile '%s' has two pickers ('%s' and '%s')",
                            pr->name, pr->picker->name, pl->name);
        pr->picker = pl;
    }
    if (k & FP__FILTER) {
        fp__plugin **a = realloc(pr->filters, (pr->nfilters + 1) * sizeof *a);
        if (!a)
            return oom(err);
        pr->filters = a;
        a[pr->nfilters++] = pl;
    }
    if (k & FP__SCORER) {
        fp__weighted *a = realloc(pr->scorers, (pr->nscorers + 1) * sizeof *a);
        if (!a)
            return oom(err);
        pr->scorers = a;
        a[pr->nscorers++] = (fp__weighted){ pl, weight };
    }
    return 0;
}

static int load_ref(fp__loader *ld, fp__profile *pr, fu_ynode item, char **err)
{
    static const char *const keys[] = { "pluginRef", "weight", NULL };
    if (!fu_ynode_is_map(item))
        return fp__fail(err, item, "expected a plugin reference (pluginRef: <name>, weight: <number>)");
    for (size_t i = 0; i < fu_ynode_len(item); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(item, i));
        if (!k || !in_list(keys, k))
            return fp__fail(err, fu_ymap_key(item, i),
                            "unknown key '%s' in a plugin reference (expected pluginRef, weight)",
                            k ? k : "?");
    }
    fu_ynode rn = fu_ymap_get(item, "pluginRef"), wn = fu_ymap_get(item, "weight");
    const char *ref = fu_ynode_str(rn);
    if (!ref || !*ref)
        return fp__fail(err, fu_ynode_ok(rn) ? rn : item,
                        "plugin reference without a pluginRef (expected pluginRef: <plugin name>)");
    fp__plugin *pl = fp__find_plugin(ld, ref);
    if (!pl)
        return fp__fail(err, rn, "pluginRef '%s' names no plugin declared under plugins", ref);
    double w = 1.0;
    if (fu_ynode_ok(wn)) {
        const char *ws = fu_ynode_str(wn);
        if (ws && ws[0] == '-')
            return fp__fail(err, wn, "negative weight %s for '%s' (expected a number >= 0)", ws, ref);
        if (fu_ynode_double(wn, 0, 1e9, &w, err))
            return -EINVAL;
    }
    return profile_add(pr, pl, w, rn, err);
}

static int load_profile(fp__loader *ld, fu_ynode item, char **err)
{
    static const char *const keys[] = { "name", "plugins", NULL };
    if (!fu_ynode_is_map(item))
        return fp__fail(err, item, "expected a scheduling profile (name, plugins)");
    for (size_t i = 0; i < fu_ynode_len(item); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(item, i));
        if (!k || !in_list(keys, k))
            return fp__fail(err, fu_ymap_key(item, i),
                            "unknown key '%s' in a scheduling profile (expected name, plugins)",
                            k ? k : "?");
    }
    fu_ynode nn = fu_ymap_get(item, "name"), refs = fu_ymap_get(item, "plugins");
    const char *name = fu_ynode_str(nn);
    if (!name || !*name)
        return fp__fail(err, fu_ynode_ok(nn) ? nn : item, "scheduling profile without a name");
    if (fp__profile_find(ld->p, name) >= 0)
        return fp__fail(err, nn, "duplicate scheduling profile '%s'", name);
    if (fu_ynode_ok(refs) && !fu_ynode_is_seq(refs))
        return fp__fail(err, refs, "expected the plugins of profile '%s' as a sequence", name);
    fp__profile *pr = new_profile(ld->p, name);
    if (!pr)
        return oom(err);
    for (size_t i = 0; i < fu_ynode_len(refs); i++) {
        int rc = load_ref(ld, pr, fu_yseq_item(refs, i), err);
        if (rc)
            return rc;
    }
    return 0;
}

/* No schedulingProfiles: "default" gets every filter, scorer and picker, in order. */
static int default_profile(fp__loader *ld, char **err)
{
    fp_policy *p = ld->p;
    fp__profile *pr = new_profile(p, "default");
    if (!pr)
        return oom(err);
    for (size_t i = 0; i < p->nplugins; i++) {
        fp__plugin *pl = p->plugins[i];
        if (!(pl->ops->kind & (FP__FILTER | FP__SCORER | FP__PICKER)))
            continue;
        fu_ynode at = fu_yaml_root(ld->doc);
        if ((pl->ops->kind & FP__PICKER) && pr->picker)
            return fp__fail(err, at, "the implicit profile 'default' would get two pickers "
                            "('%s' and '%s'); declare schedulingProfiles", pr->picker->name,
                            pl->name);
        int rc = profile_add(pr, pl, 1.0, at, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_profiles(fp__loader *ld, fu_ynode seq, char **err)
{
    if (!fu_ynode_ok(seq) || (fu_ynode_is_seq(seq) && fu_ynode_len(seq) == 0))
        return default_profile(ld, err);
    if (!fu_ynode_is_seq(seq))
        return fp__fail(err, seq, "expected schedulingProfiles as a sequence of profiles");
    for (size_t i = 0; i < fu_ynode_len(seq); i++) {
        int rc = load_profile(ld, fu_yseq_item(seq, i), err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ system defaults */

static int ensure_handler(fp__loader *ld, char **err)
{
    fp_policy *p = ld->p;
    for (size_t i = 0; i < p->nplugins; i++) {
        if (!(p->plugins[i]->ops->kind & FP__HANDLER))
            continue;
        if (p->handler)
            return fp__fail(err, p->plugins[i]->at,
                            "a second profile handler '%s' (the first is '%s' at line %d); "
                            "keep one", p->plugins[i]->name, p->handler->name, p->handler->line);
        p->handler = p->plugins[i];
    }
    if (p->handler)
        return 0;
    if (p->nprofiles != 1)
        return fp__fail(err, ld->profiles_at,
                        "%zu scheduling profiles need a profile handler (disagg-profile-handler "
                        "or header-profile-handler)", p->nprofiles);
    return add_default(ld, "single-profile-handler", (fu_ynode){ ld->doc, NULL }, &p->handler, err);
}

static int ensure_pickers(fp__loader *ld, char **err)
{
    fp_policy *p = ld->p;
    fp__plugin *picker = NULL;
    for (size_t i = 0; i < p->nplugins && !picker; i++)
        if (p->plugins[i]->ops->kind & FP__PICKER)
            picker = p->plugins[i];
    for (size_t i = 0; i < p->nprofiles; i++) {
        if (p->profiles[i].picker)
            continue;
        if (!picker && add_default(ld, "max-score-picker", (fu_ynode){ ld->doc, NULL }, &picker, err))
            return -EINVAL;
        p->profiles[i].picker = picker;
    }
    return 0;
}

static int link_all(fp__loader *ld, char **err)
{
    fp_policy *p = ld->p;
    /* Linking may append default producers; they need no linking themselves. */
    size_t n = p->nplugins;
    for (size_t i = 0; i < n; i++) {
        fp__plugin *pl = p->plugins[i];
        if (!pl->ops->link)
            continue;
        ld->current = pl;
        int rc = pl->ops->link(ld, pl, err);
        ld->current = NULL;
        if (rc)
            return rc;
    }
    return fp__inflight_configure(ld, err);
}

int fp__prefix_ref(fp__loader *ld, const char *name, fu_ynode where, fp__plugin **out,
                   char **err)
{
    if (name && *name) {
        fu_ynode key = fu_ymap_get(where, "prefixMatchInfoProducerName");
        if (fu_ynode_ok(key))
            where = key;          /* point at the name itself */
        fp__plugin *pl = fp__find_plugin(ld, name);
        if (!pl)
            return fp__fail(err, where, "no plugin named '%s' (expected a prefix-cache producer)",
                            name);
        if (!(pl->ops->kind & FP__PREFIX))
            return fp__fail(err, where, "plugin '%s' (%s) publishes no prefix-cache matches",
                            name, pl->ops->type);
        *out = pl;
        return 0;
    }
    for (size_t i = 0; i < ld->p->nplugins; i++)
        if (strcmp(ld->p->plugins[i]->ops->type, "approx-prefix-cache-producer") == 0) {
            *out = ld->p->plugins[i];
            return 0;
        }
    return add_default(ld, "approx-prefix-cache-producer", ld->legacy_approx, out, err);
}

void fp__approx_legacy(fp__loader *ld, fu_ynode params) { ld->legacy_approx = params; }

/* ------------------------------------------------------------------ the document */

static int check_header(fu_ynode root, char **err)
{
    for (size_t i = 0; i < fu_ynode_len(root); i++) {
        fu_ynode k = fu_ymap_key(root, i);
        const char *key = fu_ynode_str(k);
        if (!key || !in_list(top_keys, key))
            return fp__fail(err, k,
                            "unknown key '%s' in EndpointPickerConfig (expected one of: apiVersion, "
                            "kind, featureGates, plugins, schedulingProfiles, dataLayer, "
                            "flowControl, requestHandler, saturationDetector, parser)",
                            key ? key : "?");
    }
    fu_ynode av = fu_ymap_get(root, "apiVersion"), kind = fu_ymap_get(root, "kind");
    const char *a = fu_ynode_str(av), *k = fu_ynode_str(kind);
    if (fu_ynode_ok(av) && (!a || !in_list(api_versions, a)))
        return fp__fail(err, av, "unsupported apiVersion '%s' (expected llm-d.ai/v1alpha1)",
                        a ? a : "?");
    if (fu_ynode_ok(kind) && (!k || strcmp(k, "EndpointPickerConfig") != 0))
        return fp__fail(err, kind, "unsupported kind '%s' (expected EndpointPickerConfig)",
                        k ? k : "?");
    return 0;
}

static int build(fu_yaml *doc, fp_policy **out, char **err)
{
    fu_ynode root = fu_yaml_root(doc);
    if (!fu_ynode_ok(root) || (fu_ynode_is_scalar(root) && !*fu_ynode_str(root))) {
        const char *def = fp_builtin_text("default");
        return fp_policy_load_string("<llm-d default config>", def, strlen(def), out, err);
    }
    if (!fu_ynode_is_map(root))
        return fp__fail(err, root, "expected an EndpointPickerConfig (a mapping)");
    fp_policy *p = calloc(1, sizeof *p);
    if (!p)
        return oom(err);
    p->inflight.max_output = -1;
    fp__loader ld = { .p = p, .doc = doc, .legacy_approx = { doc, NULL } };
    ld.profiles_at = fu_ymap_get(root, "schedulingProfiles");
    if (!fu_ynode_ok(ld.profiles_at))
        ld.profiles_at = root;
    int rc = check_header(root, err);
    if (!rc)
        rc = load_plugins(&ld, fu_ymap_get(root, "plugins"), err);
    if (!rc)
        rc = load_profiles(&ld, fu_ymap_get(root, "schedulingProfiles"), err);
    if (!rc)
        rc = ensure_handler(&ld, err);
    if (!rc)
        rc = ensure_pickers(&ld, err);
    if (!rc)
        rc = link_all(&ld, err);
    if (rc) {
        fp_policy_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int fp_policy_load_string(const char *name, const char *text, size_t len, fp_policy **out,
                          char **err)
{
    assert(name && (text || len == 0) && out);
    fu_yaml *doc = NULL;
    int rc = fu_yaml_load_string(name, text ? text : "", len, &doc, err);
    if (rc)
        return rc;
    rc = build(doc, out, err);
    fu_yaml_free(doc);
    return rc;
}

int fp_policy_load_file(const char *path, fp_policy **out, char **err)
{
    assert(path && out);
    fu_yaml *doc = NULL;
    int rc = fu_yaml_load_file(path, &doc, err);
    if (rc)
        return rc;
    rc = build(doc, out, err);
    fu_yaml_free(doc);
    return rc;
}

/* ------------------------------------------------------------------ built-in policies */

static const struct builtin {
    const char *name, *text;
} builtins[] = {
    { "default",
      "# llm-d's default (R/pkg/epp/config/loader/defaults.go)\n"
      "apiVersion: llm-d.ai/v1alpha1\n"
      "kind: EndpointPickerConfig\n"
      "plugins:\n"
      "- type: queue-scorer\n"
      "- type: kv-cache-utilization-scorer\n"
      "- type: prefix-cache-scorer\n"
      "- type: metrics-data-source\n"
      "- type: core-metrics-extractor\n"
      "schedulingProfiles:\n"
      "- name: default\n"
      "  plugins:\n"
      "  - pluginRef: queue-scorer\n"
      "    weight: 2\n"
      "  - pluginRef: kv-cache-utilization-scorer\n"
      "    weight: 2\n"
      "  - pluginRef: prefix-cache-scorer\n"
      "    weight: 3\n" },
    { "token-aware",
      "# llm-d's guides: sticky until saturated, then least uncached tokens in flight\n"
      "apiVersion: llm-d.ai/v1alpha1\n"
      "kind: EndpointPickerConfig\n"
      "plugins:\n"
      "- type: prefix-cache-affinity-filter\n"
      "- type: token-load-scorer\n"
      "- type: max-score-picker\n"
      "schedulingProfiles:\n"
      "- name: default\n"
      "  plugins:\n"
      "  - pluginRef: prefix-cache-affinity-filter\n"
      "  - pluginRef: token-load-scorer\n"
      "  - pluginRef: max-score-picker\n" },
    { "pd",
      "# llm-d's P/D example (S/deploy/config/pd-epp-config.yaml)\n"
      "apiVersion: llm-d.ai/v1alpha1\n"
      "kind: EndpointPickerConfig\n"
      "plugins:\n"
      "- type: prefix-cache-scorer\n"
      "- type: queue-scorer\n"
      "- type: prefill-filter\n"
      "- type: decode-filter\n"
      "- type: max-score-picker\n"
      "- type: prefix-based-pd-decider\n"
      "  parameters: {nonCachedTokens: 16}\n"
      "- type: disagg-profile-handler\n"
      "  parameters: {deciders: {prefill: prefix-based-pd-decider}}\n"
      "schedulingProfiles:\n"
      "- name: prefill\n"
      "  plugins: [{pluginRef: prefill-filter}, {pluginRef: max-score-picker},\n"
      "            {pluginRef: prefix-cache-scorer, weight: 2}, {pluginRef: queue-scorer, weight: 1}]\n"
      "- name: decode\n"
      "  plugins: [{pluginRef: decode-filter}, {pluginRef: max-score-picker},\n"
      "            {pluginRef: prefix-cache-scorer, weight: 2}, {pluginRef: queue-scorer, weight: 1}]\n" },
    { "round-robin",
      "# Baseline: a Kubernetes Service with IPVS round-robin\n"
      "apiVersion: llm-d.ai/v1alpha1\n"
      "kind: EndpointPickerConfig\n"
      "plugins:\n"
      "- type: round-robin-picker\n" },
    { "random",
      "# Baseline: a Kubernetes Service with kube-proxy's random choice\n"
      "apiVersion: llm-d.ai/v1alpha1\n"
      "kind: EndpointPickerConfig\n"
      "plugins:\n"
      "- type: random-picker\n" },
    { "least-outstanding-requests",
      "# Baseline: fewest requests in flight (a load balancer's least-request)\n"
      "apiVersion: llm-d.ai/v1alpha1\n"
      "kind: EndpointPickerConfig\n"
      "plugins:\n"
      "- type: least-outstanding-requests-picker\n" },
};

static const char *const builtin_names[] = {
    "default", "token-aware", "pd", "round-robin", "random", "least-outstanding-requests", NULL,
};

const char *const *fp_builtin_names(void) { return builtin_names; }

const char *fp_builtin_text(const char *name)
{
    for (size_t i = 0; name && i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return builtins[i].text;
    return NULL;
}

int fp_policy_builtin(const char *name, fp_policy **out, char **err)
{
    const char *text = fp_builtin_text(name);
    if (!text) {
        if (err)
            *err = fu_asprintf("unknown built-in policy '%s' (expected default, token-aware, "
                               "pd, round-robin, random or least-outstanding-requests)",
                               name ? name : "");
        return -ENOENT;
    }
    char label[96];
    snprintf(label, sizeof label, "<built-in policy %s>", name);
    return fp_policy_load_string(label, text, strlen(text), out, err);
}
