/*
 * spec.c: reads a scenario's `workload:` section into an ft_spec and opens it.
 *
 * A workload is either a generator (specgen.c) or a trace file (format, path, reader
 * options), plus optional transforms. Every key goes through a fu_yfield table or a
 * hand-written reader for sections with several shapes, so an unknown key, a wrong
 * type or an out-of-range number is an error naming file:line:column and what was
 * expected. The tables a spec needs (classes, empirical distributions, rate windows)
 * live in a reference-counted store, so that a source opened from the spec (which
 * reopens its input for repetitions) keeps them alive after the spec is freed.
 * Read once per run: clarity over speed.
 */
#include "ft_internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ft_spec_store {
    atomic_int refs;
    void **ptrs;
    size_t n, cap;
};

int fti_yfail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* --- the store --- */

static ft_spec_store *store_of(ft_spec *s)
{
    if (!s->store && (s->store = calloc(1, sizeof *s->store)))
        atomic_init(&s->store->refs, 1);
    return s->store;
}

int fti_spec_keep(ft_spec *s, void *p)
{
    ft_spec_store *st = store_of(s);
    if (st && st->n == st->cap) {
        size_t cap = st->cap ? 2 * st->cap : 8;
        void **q = realloc(st->ptrs, cap * sizeof *q);
        if (q) {
            st->ptrs = q;
            st->cap = cap;
        }
    }
    if (!st || st->n == st->cap) {
        free(p);
        return -ENOMEM;
    }
    st->ptrs[st->n++] = p;
    return 0;
}

void *fti_spec_alloc(ft_spec *s, size_t size)
{
    void *p = calloc(1, size ? size : 1);
    return p && fti_spec_keep(s, p) == 0 ? p : NULL;
}

static void store_release(ft_spec_store *st)
{
    if (!st || atomic_fetch_sub(&st->refs, 1) > 1)
        return;
    for (size_t i = 0; i < st->n; i++)
        free(st->ptrs[i]);
    free(st->ptrs);
    free(st);
}

void ft_spec_free(ft_spec *spec)
{
    if (!spec)
        return;
    store_release(spec->store);
    memset(spec, 0, sizeof *spec);
}

/* --- paths --- */

int fti_spec_path(fu_ynode where, const char *base_dir, const char *what, char *out,
                  size_t size, char **err)
{
    const char *rel = fu_ynode_str(where);
    if (!rel || !*rel)
        return fti_yfail(err, fu_ynode_errf(where, "expected a path to a %s", what));
    int n = rel[0] == '/' || !base_dir || !*base_dir || strcmp(rel, "-") == 0
                ? snprintf(out, size, "%s", rel)
                : snprintf(out, size, "%s/%s", base_dir, rel);
    if (n < 0 || (size_t)n >= size)
        return fti_yfail(err, fu_ynode_errf(where, "path too long"));
    if (strcmp(out, "-") == 0)
        return 0;
    FILE *f = fopen(out, "rb");
    if (f) {
        fclose(f);
        return 0;
    }
    int e = errno;
    fti_yfail(err, fu_ynode_errf(where, "cannot open %s '%s': %s", what, out, strerror(e)));
    return e == ENOENT ? -ENOENT : -EIO;
}

/* --- trace --- */

typedef struct trace_yaml {
    int64_t requests;
    bool skip_bad_rows;
    char model[64], log_type[64];
    int block_tokens;
} trace_yaml;

static int load_enum(fu_ynode n, const char *const *names, size_t count, const char *what,
                     int *out, char **err)
{
    const char *v = fu_ynode_str(n);
    for (size_t i = 0; v && i < count; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    char known[160] = "";
    for (size_t i = 0; i < count; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                 names[i]);
    return fti_yfail(err, fu_ynode_errf(n, "unknown %s '%s' (known: %s)", what, v ? v : "?",
                                        known));
}

static int load_trace(ft_spec *s, fu_ynode n, const char *base_dir, char **err)
{
    static const fu_yfield fields[] = {
        {"requests", FU_Y_INT64, offsetof(trace_yaml, requests), 0, 0, 1e12, 0, ""},
        {"skip_bad_rows", FU_Y_BOOL, offsetof(trace_yaml, skip_bad_rows), 0, 0, 0, 0, ""},
        {"model", FU_Y_STR, offsetof(trace_yaml, model), 64, 0, 0, 0, "BurstGPT Model"},
        {"log_type", FU_Y_STR, offsetof(trace_yaml, log_type), 64, 0, 0, 0, "BurstGPT Log Type"},
        {"block_tokens", FU_Y_INT, offsetof(trace_yaml, block_tokens), 0, 1, 1e6, 0,
         "Mooncake block size"},
        {NULL},
    };
    static const char *const skip[] = { "path", "format", "zeros", NULL };
    static const char *const formats[] = { "auto", "azure", "burstgpt", "mooncake", "csv" };
    static const char *const zeros[] = { "default", "skip", "one", "error" };
    trace_yaml y = { 0 };
    int fmt = FT_FMT_AUTO, z = FT_ZERO_DEFAULT;
    fu_ynode f = fu_ymap_get(n, "format"), zn = fu_ymap_get(n, "zeros");
    int rc = fu_ynode_is_map(n) ? fu_yaml_apply(n, "trace", fields, skip, &y, err)
                                : fti_yfail(err, fu_ynode_errf(n, "expected trace: {path: "
                                                                  "FILE, format: ...}"));
    if (rc == 0 && fu_ynode_ok(f))
        rc = load_enum(f, formats, 5, "trace format", &fmt, err);
    if (rc == 0 && fu_ynode_ok(zn))
        rc = load_enum(zn, zeros, 4, "zeros policy", &z, err);
    if (rc == 0 && !fu_ynode_ok(fu_ymap_get(n, "path")))
        return fti_yfail(err, fu_ynode_errf(n, "trace needs a path"));
    if (rc == 0)
        rc = fti_spec_path(fu_ymap_get(n, "path"), base_dir, "trace", s->trace.path,
                           sizeof s->trace.path, err);
    s->kind = FT_SPEC_TRACE;
    s->trace.format = (ft_format)fmt;
    s->trace.zeros = (ft_zero_policy)z;
    s->trace.skip_bad_rows = y.skip_bad_rows;
    s->trace.block_tokens = (uint32_t)y.block_tokens;
    memcpy(s->trace.model, y.model, sizeof y.model);
    memcpy(s->trace.log_type, y.log_type, sizeof y.log_type);
    s->xf.limit = (uint64_t)y.requests;
    return rc;
}

/* --- transforms --- */

typedef struct xf_yaml {
    double speed, rate, sample;
    int repeat;
    bool start_at_zero;
    int64_t requests;
} xf_yaml;

static int load_window(fu_ynode n, ft_transforms *t, char **err)
{
    static const fu_yfield fields[] = {
        {"start", FU_Y_DURATION_NS, offsetof(ft_transforms, window_start_ns), 0, 0, 1e9, 0, ""},
        {"end", FU_Y_DURATION_NS, offsetof(ft_transforms, window_end_ns), 0, 1e-9, 1e9, 0, ""},
        {NULL},
    };
    int rc = fu_yaml_apply(n, "window", fields, NULL, t, err);
    if (rc == 0 && t->window_end_ns && t->window_end_ns <= t->window_start_ns)
        return fti_yfail(err, fu_ynode_errf(n, "expected a window whose end is after its "
                                               "start"));
    return rc;
}

/* classes: [0, 2, chat] -> a bit mask (names are the generator's class names). */
static int load_class_mask(const ft_spec *s, fu_ynode n, uint64_t *mask, char **err)
{
    size_t k = fu_ynode_len(n);
    if (!fu_ynode_is_seq(n) || k == 0)
        return fti_yfail(err, fu_ynode_errf(n, "expected a list of class numbers or names"));
    for (size_t i = 0; i < k; i++) {
        fu_ynode it = fu_yseq_item(n, i);
        const char *v = fu_ynode_str(it);
        size_t c = 0;
        while (v && c < 64 && !(fti_spec_class_name(s, c) && !strcmp(fti_spec_class_name(s, c), v)))
            c++;
        int64_t num = (int64_t)c;
        if (c == 64 && fu_ynode_int64(it, 0, 63, &num, NULL) != 0)
            return fti_yfail(err, fu_ynode_errf(it, "expected a class number 0..63 or the "
                                                    "name of a class, got '%s'", v ? v : "?"));
        *mask |= 1ull << num;
    }
    return 0;
}

static int load_transforms(ft_spec *s, fu_ynode n, char **err)
{
    static const fu_yfield fields[] = {
        {"speed", FU_Y_DOUBLE, offsetof(xf_yaml, speed), 0, 1e-9, 1e9, 0, "time compression"},
        {"rate", FU_Y_DOUBLE, offsetof(xf_yaml, rate), 0, 1e-9, 1e9, 0, "target requests/s"},
        {"sample", FU_Y_DOUBLE, offsetof(xf_yaml, sample), 0, 1e-9, 1, 0, "kept fraction"},
        {"repeat", FU_Y_INT, offsetof(xf_yaml, repeat), 0, 1, 1e6, 0, "copies"},
        {"start_at_zero", FU_Y_BOOL, offsetof(xf_yaml, start_at_zero), 0, 0, 0, 0, ""},
        {"requests", FU_Y_INT64, offsetof(xf_yaml, requests), 0, 1, 1e12, 0, "limit"},
        {NULL},
    };
    static const char *const skip[] = { "window", "classes", NULL };
    xf_yaml y = { 0 };
    ft_transforms *t = &s->xf;
    fu_ynode win = fu_ymap_get(n, "window"), cls = fu_ymap_get(n, "classes");
    int rc = fu_ynode_is_map(n) ? fu_yaml_apply(n, "transforms", fields, skip, &y, err)
                                : fti_yfail(err, fu_ynode_errf(n, "expected a mapping for "
                                                                  "transforms"));
    if (rc == 0 && y.speed > 0 && y.rate > 0)
        return fti_yfail(err, fu_ynode_errf(n, "give speed: or rate:, not both"));
    if (rc == 0 && fu_ynode_ok(win))
        rc = load_window(win, t, err);
    if (rc == 0 && fu_ynode_ok(cls))
        rc = load_class_mask(s, cls, &t->class_mask, err);
    t->speed = y.speed;
    t->target_rate = y.rate;
    t->sample = y.sample;
    t->repeat = (uint32_t)y.repeat;
    t->start_at_zero = y.start_at_zero;
    if (y.requests)
        t->limit = (uint64_t)y.requests;
    return rc;
}

/* --- the spec --- */

static int load_spec(ft_spec *s, fu_ynode n, const char *base_dir, char **err)
{
    if (!fu_ynode_is_map(n))
        return fti_yfail(err, fu_ynode_errf(n, "expected a mapping for workload"));
    fu_ynode tr = fu_ymap_get(n, "trace"), xf = fu_ymap_get(n, "transforms");
    int rc;
    if (!fu_ynode_ok(tr)) {
        rc = fti_spec_generator(s, n, base_dir, err);
        s->kind = FT_SPEC_GENERATOR;
    } else if (fu_ynode_len(n) != (fu_ynode_ok(xf) ? 2u : 1u)) {
        return fti_yfail(err, fu_ynode_errf(n, "a trace workload takes only trace: {format, "
                                               "path, requests, ...} and transforms: {...}"));
    } else {
        rc = load_trace(s, tr, base_dir, err);
    }
    return rc == 0 && fu_ynode_ok(xf) ? load_transforms(s, xf, err) : rc;
}

int ft_spec_from_yaml(fu_ynode workload, const char *base_dir, uint64_t seed, ft_spec *out,
                      char **err)
{
    ft_spec *s = calloc(1, sizeof *s);
    if (!s)
        return fti_yfail(err, fu_asprintf("workload: out of memory")), -ENOMEM;
    int rc = load_spec(s, workload, base_dir, err);
    ft_spec_set_seed(s, seed);
    if (rc == -ENOMEM && err)
        *err = fu_asprintf("%s: out of memory", fu_yaml_name(workload.doc));
    memset(out, 0, sizeof *out);
    if (rc == 0)
        *out = *s;
    else
        ft_spec_free(s);
    free(s);
    return rc;
}

/* --- opening --- */

static int open_input(void *ctx, ft_source **out, char **err)
{
    const ft_spec *s = ctx;
    if (s->kind == FT_SPEC_GENERATOR)
        return ft_gen_new(&s->gen, out, err);
    return ft_trace_open(&s->trace, out, err);
}

static void free_input(void *ctx)
{
    ft_spec_free(ctx);
    free(ctx);
}

int ft_spec_open(const ft_spec *spec, ft_source **out, char **err)
{
    ft_transforms t = spec->xf;
    ft_spec *copy = malloc(sizeof *copy);
    *out = NULL;
    if (!copy) {
        if (err)
            *err = strdup("workload: out of memory");
        return -ENOMEM;
    }
    *copy = *spec;
    copy->trace.max_requests = 0;
    if (copy->kind == FT_SPEC_TRACE) {   /* a bare limit needs no wrapper */
        ft_transforms rest = t;
        rest.limit = 0;
        if (ft_transforms_identity(&rest)) {
            copy->trace.max_requests = t.limit;
            t.limit = 0;
        }
    }
    if (ft_transforms_identity(&t)) {
        int rc = open_input(copy, out, err);
        free(copy);
        return rc;
    }
    if (copy->store)
        atomic_fetch_add(&copy->store->refs, 1);
    return ft_transform_open(&t, open_input, copy, free_input, out, err);
}

void ft_spec_set_seed(ft_spec *spec, uint64_t seed)
{
    spec->gen.seed = seed;
    spec->xf.sample_seed = seed ^ 0x73616d706c65ull;    /* "sample": its own stream */
}

void ft_spec_set_requests(ft_spec *spec, uint64_t n)
{
    if (spec->kind == FT_SPEC_GENERATOR)
        spec->gen.max_requests = n;
    else
        spec->xf.limit = n;
}
