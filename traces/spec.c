/*
 * spec.c: reads a scenario's `workload:` section into an ft_spec and opens it.
 *
 * A workload is either a generator (arrival process, length distributions, prompt
 * shape) or a trace file (format, path, reader options). Every key goes through a
 * fu_yfield table or a hand-written reader for sections with several shapes, so an
 * unknown key, a wrong type or an out-of-range number is an error naming
 * file:line:column and what was expected. Read once per run: clarity over speed.
 */
#include "ft_spec.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* --- paths --- */

/* Resolves `rel` against base_dir into out[size]. */
static int resolve_path(const char *base_dir, fu_ynode where, const char *rel, char *out,
                        size_t size, char **err)
{
    int n = rel[0] == '/' || !base_dir || !*base_dir
                ? snprintf(out, size, "%s", rel)
                : snprintf(out, size, "%s/%s", base_dir, rel);
    if (n < 0 || (size_t)n >= size)
        return fail(err, fu_ynode_errf(where, "path too long"));
    return 0;
}

static int require_file(fu_ynode where, const char *path, const char *what, char **err)
{
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return 0;
    }
    int e = errno;
    fail(err, fu_ynode_errf(where, "cannot open %s '%s': %s", what, path, strerror(e)));
    return e == ENOENT ? -ENOENT : -EIO;
}

/* --- generator --- */

/* A length distribution: N (fixed) or {dist: fixed|uniform|normal|lognormal, ...}. */
static int load_dist(fu_ynode n, const char *what, ft_dist *d, char **err)
{
    memset(d, 0, sizeof *d);
    if (fu_ynode_is_scalar(n)) {
        d->kind = FT_DIST_FIXED;
        return fu_ynode_double(n, 1, 1e8, &d->mean, err);
    }
    static const struct { const char *name; ft_dist_kind kind; } kinds[] = {
        {"fixed", FT_DIST_FIXED}, {"uniform", FT_DIST_UNIFORM},
        {"normal", FT_DIST_NORMAL}, {"lognormal", FT_DIST_LOGNORMAL},
    };
    static const fu_yfield fields[] = {
        {"value", FU_Y_DOUBLE, offsetof(ft_dist, mean), 0, 1, 1e8, 0, "fixed length"},
        {"mean", FU_Y_DOUBLE, offsetof(ft_dist, mean), 0, 1, 1e8, 0, "mean length"},
        {"sd", FU_Y_DOUBLE, offsetof(ft_dist, sd), 0, 0, 1e8, 0, "standard deviation"},
        {"min", FU_Y_DOUBLE, offsetof(ft_dist, lo), 0, 1, 1e8, 0, "smallest length"},
        {"max", FU_Y_DOUBLE, offsetof(ft_dist, hi), 0, 1, 1e8, 0, "largest length"},
        {NULL},
    };
    static const char *const skip[] = {"dist", NULL};
    fu_ynode kind = fu_ymap_get(n, "dist");
    const char *k = fu_ynode_str(kind);
    size_t i = 0;
    while (k && i < 4 && strcmp(k, kinds[i].name) != 0)
        i++;
    if (!k || i == 4)
        return fail(err, fu_ynode_errf(fu_ynode_ok(kind) ? kind : n,
                                       "expected dist: fixed, uniform, normal or lognormal "
                                       "in %s", what));
    d->kind = kinds[i].kind;
    return fu_yaml_apply(n, what, fields, skip, d, err);
}

static int load_arrival(fu_ynode n, ft_arrival *a, char **err)
{
    static const fu_yfield fields[] = {
        {"rate", FU_Y_DOUBLE, offsetof(ft_arrival, rate), 0, 1e-9, 1e9, 0, "requests/s"},
        {"cv", FU_Y_DOUBLE, offsetof(ft_arrival, cv), 0, 1e-6, 1e6, 0,
         "coefficient of variation of inter-arrival times"},
        {NULL},
    };
    static const char *const skip[] = {"process", NULL};
    const char *p = fu_ynode_str(fu_ymap_get(n, "process"));
    if (!fu_ynode_is_map(n) || !p || (strcmp(p, "poisson") && strcmp(p, "gamma")))
        return fail(err, fu_ynode_errf(n, "expected arrival: {process: poisson|gamma, "
                                          "rate: R[, cv: C]}"));
    a->kind = strcmp(p, "gamma") == 0 ? FT_ARR_GAMMA : FT_ARR_POISSON;
    a->cv = 1;
    int rc = fu_yaml_apply(n, "arrival", fields, skip, a, err);
    if (rc == 0 && !fu_ynode_ok(fu_ymap_get(n, "rate")))
        return fail(err, fu_ynode_errf(n, "arrival needs a rate (requests per second)"));
    return rc;
}

static int load_prefix(fu_ynode n, ft_gen_config *g, char **err)
{
    static const fu_yfield fields[] = {
        {"tokens", FU_Y_INT, offsetof(ft_gen_config, prefix_tokens), 0, 0, 1e7, 0, ""},
        {"groups", FU_Y_INT, offsetof(ft_gen_config, prefix_groups), 0, 1, 1e7, 0, ""},
        {NULL},
    };
    g->prefix_groups = 1;
    return fu_yaml_apply(n, "shared_prefix", fields, NULL, g, err);
}

static int load_generator(ft_spec *s, fu_ynode n, char **err)
{
    ft_gen_config *g = &s->gen;
    static const fu_yfield fields[] = {
        {"requests", FU_Y_INT64, offsetof(ft_gen_config, max_requests), 0, 1, 1e12, 0, ""},
        {"duration", FU_Y_DURATION_NS, offsetof(ft_gen_config, duration_ns), 0, 1e-6, 1e8, 0,
         ""},
        {NULL},
    };
    static const char *const skip[] = {"arrival", "input", "output", "shared_prefix", NULL};
    int rc = fu_yaml_apply(n, "workload", fields, skip, g, err);
    fu_ynode arr = fu_ymap_get(n, "arrival"), in = fu_ymap_get(n, "input"),
             out = fu_ymap_get(n, "output"), pre = fu_ymap_get(n, "shared_prefix");
    if (rc == 0 && (!fu_ynode_ok(arr) || !fu_ynode_ok(in) || !fu_ynode_ok(out)))
        return fail(err, fu_ynode_errf(n, "a generated workload needs arrival, input and "
                                          "output (or give trace:)"));
    if (rc == 0 && g->max_requests == 0 && g->duration_ns == 0)
        return fail(err, fu_ynode_errf(n, "a generated workload needs requests: or "
                                          "duration: to end"));
    if (rc == 0)
        rc = load_arrival(arr, &g->arrival, err);
    if (rc == 0)
        rc = load_dist(in, "input", &g->input, err);
    if (rc == 0)
        rc = load_dist(out, "output", &g->output, err);
    if (rc == 0 && fu_ynode_ok(pre))
        rc = load_prefix(pre, g, err);
    s->kind = FT_SPEC_GENERATOR;
    return rc;
}

/* --- trace --- */

static int load_format(fu_ynode n, ft_format *f, char **err)
{
    const char *name = fu_ynode_str(n);
    if (name && strcmp(name, "azure") == 0) {
        *f = FT_FMT_AZURE;
        return 0;
    }
    return fail(err, fu_ynode_errf(n, "unknown trace format '%s' (known: azure)",
                                   name ? name : "?"));
}

static int load_trace(ft_spec *s, fu_ynode n, const char *base_dir, char **err)
{
    static const fu_yfield fields[] = {
        {"requests", FU_Y_INT64, offsetof(ft_spec, xf.limit), 0, 0, 1e12, 0, ""},
        {NULL},
    };
    static const char *const skip[] = {"path", "format", NULL};
    s->trace.format = FT_FMT_AZURE;
    int rc = fu_yaml_apply(n, "trace", fields, skip, s, err);
    fu_ynode fmt = fu_ymap_get(n, "format");
    if (rc == 0 && fu_ynode_ok(fmt))
        rc = load_format(fmt, &s->trace.format, err);
    if (rc)
        return rc;
    fu_ynode p = fu_ymap_get(n, "path");
    if (!fu_ynode_str(p))
        return fail(err, fu_ynode_errf(n, "trace needs a path"));
    rc = resolve_path(base_dir, p, fu_ynode_str(p), s->trace.path, sizeof s->trace.path, err);
    s->kind = FT_SPEC_TRACE;
    return rc ? rc : require_file(p, s->trace.path, "trace", err);
}

/* --- the spec --- */

static int load_spec(ft_spec *s, fu_ynode n, const char *base_dir, char **err)
{
    if (!fu_ynode_is_map(n))
        return fail(err, fu_ynode_errf(n, "expected a mapping for workload"));
    fu_ynode tr = fu_ymap_get(n, "trace");
    if (!fu_ynode_ok(tr))
        return load_generator(s, n, err);
    if (fu_ynode_len(n) != 1)
        return fail(err, fu_ynode_errf(n, "a trace workload takes only trace: {format, path, "
                                          "requests}"));
    return load_trace(s, tr, base_dir, err);
}

int ft_spec_from_yaml(fu_ynode workload, const char *base_dir, uint64_t seed, ft_spec *out,
                      char **err)
{
    ft_spec *s = calloc(1, sizeof *s);
    if (!s)
        return fail(err, fu_asprintf("workload: out of memory")), -ENOMEM;
    int rc = load_spec(s, workload, base_dir, err);
    s->gen.seed = seed;
    memset(out, 0, sizeof *out);
    if (rc == 0)
        *out = *s;
    else
        ft_spec_free(s);
    free(s);
    return rc;
}

int ft_spec_open(const ft_spec *spec, ft_source **out, char **err)
{
    if (spec->kind == FT_SPEC_GENERATOR)
        return ft_gen_new(&spec->gen, out, err);
    ft_trace_opts o = spec->trace;
    o.max_requests = spec->xf.limit;
    return ft_trace_open(&o, out, err);
}

void ft_spec_set_seed(ft_spec *spec, uint64_t seed)
{
    spec->gen.seed = seed;
}

void ft_spec_set_requests(ft_spec *spec, uint64_t n)
{
    if (spec->kind == FT_SPEC_GENERATOR)
        spec->gen.max_requests = n;
    else
        spec->xf.limit = n;
}

void ft_spec_free(ft_spec *spec)
{
    if (!spec)
        return;
    memset(spec, 0, sizeof *spec);
}
