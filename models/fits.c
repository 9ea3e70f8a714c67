/*
 * fits.c: fit files, the catalogue of fitted latency coefficients.
 *
 * A fit file is YAML with two optional top-level sequences (models/fits/README.md
 * shows a full example):
 *
 *   fits:
 *     - {accelerator: H100-SXM, model: llama-2-7b, tp: 1, form: scaled,
 *        source: "...", coefficients: {step_s: ..., lin_flops: ..., ...},
 *        fit: {rows: N, held_out: N, median_error_pct: ..., ...}}
 *     - {..., form: distserve, prefill_ms: [a, b, c], decode_small_ms: [a, b, c],
 *        decode_large_ms: [a, b, c], decode_threshold: 95}
 *     - {..., form: profile, tokens: [1, 2, ...], layer_ms: [...]}
 *   collectives:
 *     - {accelerator: H100-SXM, source: "...",
 *        all_reduce: [{workers: 2, devices_per_node: 2, latency_us: ..., gb_per_s: ...}],
 *        send_recv: [...]}
 *
 * `fleetsim calibrate` writes them and scenarios name them with latency_params:.
 * Errors name file:line:column like every other loader (util/fu_yaml.h). Files are
 * small and read once per replica at start-up, so entries are a plain array searched
 * linearly.
 */
#include "fm_fit.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fu_yaml.h"

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* --- the set --- */

fm_fits *fm_fits_new(void)
{
    fm_fits *f = calloc(1, sizeof(fm_fits));
    if (f)
        f->refs = 1;
    return f;
}

/* Guards the load cache and every set's reference count. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void entry_free(fm_fit_entry *e)
{
    free(e->tokens);
    free(e->layer_s);
}

void fm_fits_free(fm_fits *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&lock);
    int left = --f->refs;
    pthread_mutex_unlock(&lock);
    if (left > 0)
        return;
    for (size_t i = 0; i < f->n; i++)
        entry_free(&f->e[i]);
    free(f->e);
    free(f->coll);
    free(f);
}

static int grow(void **arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? 2 * *cap : 8;
    void *p = realloc(*arr, nc * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static double *dup_doubles(const double *v, size_t n)
{
    double *p = n ? malloc(n * sizeof *p) : NULL;
    if (p)
        memcpy(p, v, n * sizeof *p);
    return p;
}

int fm_fits_add(fm_fits *f, const fm_fit_entry *e)
{
    assert(!f->shared);
    if (grow((void **)&f->e, f->n, &f->cap, sizeof *f->e))
        return -ENOMEM;
    fm_fit_entry c = *e;
    c.tokens = dup_doubles(e->tokens, e->npoints);
    c.layer_s = dup_doubles(e->layer_s, e->npoints);
    if (e->npoints && (!c.tokens || !c.layer_s)) {
        entry_free(&c);
        return -ENOMEM;
    }
    f->e[f->n++] = c;
    return 0;
}

static void merge_fit(fm_collectives *dst, const fm_coll_fit *fit)
{
    for (size_t i = 0; i < dst->n; i++)
        if (dst->fit[i].kind == fit->kind && dst->fit[i].workers == fit->workers &&
            dst->fit[i].devices_per_node == fit->devices_per_node) {
            dst->fit[i] = *fit;
            return;
        }
    if (dst->n < FM_COLL_MAX)
        dst->fit[dst->n++] = *fit;
}

int fm_fits_add_coll(fm_fits *f, const fm_collectives *c)
{
    assert(!f->shared);
    for (size_t i = 0; i < f->ncoll; i++)
        if (strcasecmp(f->coll[i].accel, c->accel) == 0) {
            for (size_t j = 0; j < c->n; j++)
                merge_fit(&f->coll[i], &c->fit[j]);
            return 0;
        }
    if (grow((void **)&f->coll, f->ncoll, &f->capcoll, sizeof *f->coll))
        return -ENOMEM;
    f->coll[f->ncoll++] = *c;
    return 0;
}

const fm_fit_entry *fm_fits_find(const fm_fits *f, unsigned forms, const char *accel,
                                 const char *model, int tp)
{
    for (size_t i = 0; i < f->n; i++) {
        const fm_fit_entry *e = &f->e[i];
        if ((forms & (1u << e->form)) && e->tp == tp && strcasecmp(e->accel, accel) == 0 &&
            strcasecmp(e->model, model) == 0)
            return e;
    }
    return NULL;
}

const fm_collectives *fm_fits_coll(const fm_fits *f, const char *accel)
{
    for (size_t i = 0; i < f->ncoll; i++)
        if (strcasecmp(f->coll[i].accel, accel) == 0)
            return &f->coll[i];
    return NULL;
}

double fm_profile_interp(const fm_fit_entry *e, double tokens)
{
    size_t n = e->npoints;
    if (n == 0)
        return 0;
    if (n == 1 || tokens <= e->tokens[0])
        return e->layer_s[0];
    size_t lo = 0, hi = n - 1; /* binary search for the segment [lo, lo+1] holding tokens */
    if (tokens < e->tokens[n - 1]) {
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (e->tokens[mid] <= tokens)
                lo = mid;
            else
                hi = mid;
        }
    } else
        lo = n - 2, hi = n - 1;
    double x0 = e->tokens[lo], x1 = e->tokens[hi];
    return e->layer_s[lo] + (e->layer_s[hi] - e->layer_s[lo]) * (tokens - x0) / (x1 - x0);
}

/* --- reading --- */

#define E(f) offsetof(fm_fit_entry, f)
#define K(f) offsetof(fm_scaled_coef, f)

static const fu_yfield entry_fields[] = {
    {"accelerator", FU_Y_STR, E(accel), FM_NAME_MAX, 0, 0, 0, "catalogue accelerator"},
    {"model", FU_Y_STR, E(model), FM_NAME_MAX, 0, 0, 0, "catalogue LLM"},
    {"tp", FU_Y_INT, E(tp), 0, 1, 1024, 0, "tensor-parallel degree"},
    {"source", FU_Y_STR, E(source), 256, 0, 0, 0, "where the numbers came from"},
    {"decode_threshold", FU_Y_INT, E(ds.threshold), 0, 1, 1e6, 0,
     "DistServe's decoding_large_small_bs_threshold"},
    {NULL},
};

static const fu_yfield coef_fields[] = {
    {"step_s", FU_Y_DOUBLE, K(step_s), 0, 0, 10, 0, "seconds per step"},
    {"seq_s", FU_Y_DOUBLE, K(seq_s), 0, 0, 10, 0, "seconds per sequence"},
    {"layer_s", FU_Y_DOUBLE, K(layer_s), 0, 0, 10, 0, "seconds per layer"},
    {"lin_flops", FU_Y_DOUBLE, K(lin_flops), 0, 0, 1e4, 0, "factor"},
    {"lin_bytes", FU_Y_DOUBLE, K(lin_bytes), 0, 0, 1e4, 0, "factor"},
    {"lin_p", FU_Y_DOUBLE, K(lin_p), 0, 0, 1e9, 0, "soft-max exponent, 0 = max"},
    {"attn_flops", FU_Y_DOUBLE, K(attn_flops), 0, 0, 1e4, 0, "factor"},
    {"attn_bytes", FU_Y_DOUBLE, K(attn_bytes), 0, 0, 1e4, 0, "factor"},
    {"attn_p", FU_Y_DOUBLE, K(attn_p), 0, 0, 1e9, 0, "soft-max exponent, 0 = max"},
    {"comm", FU_Y_DOUBLE, K(comm), 0, 0, 1e4, 0, "factor"},
    {NULL},
};

/* The fit: mapping, read into plain numbers. */
typedef struct fit_doc {
    int64_t rows, held;
    double med, mape, hmed, hmape, hmax;
} fit_doc;

static int read_quality(fu_ynode n, fm_fit_entry *e, char **err)
{
    static const fu_yfield fields[] = {
        {"rows", FU_Y_INT64, offsetof(fit_doc, rows), 0, 0, 1e12, 0, "rows fitted"},
        {"held_out", FU_Y_INT64, offsetof(fit_doc, held), 0, 0, 1e12, 0, "rows held out"},
        {"median_error_pct", FU_Y_DOUBLE, offsetof(fit_doc, med), 0, 0, 1e9, 0, ""},
        {"mape_pct", FU_Y_DOUBLE, offsetof(fit_doc, mape), 0, 0, 1e9, 0, ""},
        {"held_median_error_pct", FU_Y_DOUBLE, offsetof(fit_doc, hmed), 0, 0, 1e9, 0, ""},
        {"held_mape_pct", FU_Y_DOUBLE, offsetof(fit_doc, hmape), 0, 0, 1e9, 0, ""},
        {"held_max_error_pct", FU_Y_DOUBLE, offsetof(fit_doc, hmax), 0, 0, 1e9, 0, ""},
        {NULL},
    };
    fit_doc d = {0};
    int rc = fu_yaml_apply(n, "fit", fields, NULL, &d, err);
    if (rc)
        return rc;
    e->q = (fm_fit_quality){(size_t)d.rows, (size_t)d.held, d.med, d.mape, d.hmed, d.hmape,
                            d.hmax};
    e->has_q = true;
    return 0;
}

/* A sequence of `want` numbers (want == 0: any length >= 2, malloc'd into *out). */
static int read_numbers(fu_ynode n, const char *what, size_t want, double *fixed,
                        double **out, size_t *len, char **err)
{
    size_t k = fu_ynode_len(n);
    if (!fu_ynode_is_seq(n) || (want && k != want) || (!want && k < 2))
        return fail(err, fu_ynode_errf(n, want ? "expected %s: a list of %zu numbers"
                                               : "expected %s: a list of at least 2 numbers",
                                       what, want), -EINVAL);
    double *v = want ? fixed : malloc(k * sizeof *v);
    if (!v)
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    for (size_t i = 0; i < k; i++) {
        int rc = fu_ynode_double(fu_yseq_item(n, i), -1e12, 1e12, &v[i], err);
        if (rc) {
            if (!want)
                free(v);
            return rc;
        }
    }
    if (out)
        *out = v;
    if (len)
        *len = k;
    return 0;
}

static int need(fu_ynode map, const char *key, fu_ynode *out, char **err)
{
    *out = fu_ymap_get(map, key);
    if (fu_ynode_ok(*out))
        return 0;
    return fail(err, fu_ynode_errf(map, "missing required key '%s'", key), -EINVAL);
}

static int read_distserve(fu_ynode n, fm_fit_entry *e, char **err)
{
    static const char *const keys[] = {"prefill_ms", "decode_small_ms", "decode_large_ms"};
    double *dst[] = {e->ds.prefill, e->ds.small, e->ds.large};
    for (size_t i = 0; i < 3; i++) {
        fu_ynode v;
        int rc = need(n, keys[i], &v, err);
        if (rc || (rc = read_numbers(v, keys[i], 3, dst[i], NULL, NULL, err)))
            return rc;
    }
    if (e->ds.threshold == 0)
        return fail(err, fu_ynode_errf(n, "missing required key 'decode_threshold'"), -EINVAL);
    return 0;
}

static int read_profile(fu_ynode n, fm_fit_entry *e, char **err)
{
    fu_ynode t, l;
    size_t nt, nl;
    int rc = need(n, "tokens", &t, err);
    if (rc || (rc = need(n, "layer_ms", &l, err)) ||
        (rc = read_numbers(t, "tokens", 0, NULL, &e->tokens, &nt, err)) ||
        (rc = read_numbers(l, "layer_ms", 0, NULL, &e->layer_s, &nl, err)))
        return rc;
    if (nt != nl)
        return fail(err, fu_ynode_errf(l, "layer_ms has %zu values for %zu tokens", nl, nt),
                    -EINVAL);
    e->npoints = nt;
    for (size_t i = 0; i < nt; i++) {
        if ((i && e->tokens[i] <= e->tokens[i - 1]) || e->tokens[i] < 1)
            return fail(err, fu_ynode_errf(fu_yseq_item(t, i), "expected tokens ascending, "
                                                               "distinct and >= 1"), -EINVAL);
        if (!(e->layer_s[i] > 0))
            return fail(err, fu_ynode_errf(fu_yseq_item(l, i), "expected a positive time"),
                        -EINVAL);
        e->layer_s[i] /= 1e3;
    }
    return 0;
}

static int read_form(fu_ynode n, fm_fit_entry *e, char **err)
{
    static const char *const forms[] = {"scaled", "distserve", "profile"};
    fu_ynode f;
    int rc = need(n, "form", &f, err);
    const char *s = rc ? NULL : fu_ynode_str(f);
    if (rc)
        return rc;
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, forms[i]) == 0)
            e->form = (fm_fit_form)i;
    if (!s || strcmp(s, forms[e->form]) != 0)
        return fail(err, fu_ynode_errf(f, "expected form: scaled, distserve or profile"),
                    -EINVAL);
    if (e->form == FM_FORM_DISTSERVE)
        return read_distserve(n, e, err);
    if (e->form == FM_FORM_PROFILE)
        return read_profile(n, e, err);
    fu_ynode c;
    if ((rc = need(n, "coefficients", &c, err)) ||
        (rc = fu_yaml_apply(c, "coefficients", coef_fields, NULL, &e->scaled, err)))
        return rc;
    const fm_scaled_coef *k = &e->scaled;
    if (!(k->step_s > 0 || k->seq_s > 0 || k->layer_s > 0 || k->lin_flops > 0 ||
          k->lin_bytes > 0))
        return fail(err, fu_ynode_errf(c, "these coefficients predict no time for a step: "
                                          "expected step_s, seq_s, layer_s, lin_flops or "
                                          "lin_bytes above 0"), -EINVAL);
    return 0;
}

/* Keys each form allows beyond the common ones. */
static int check_keys(fu_ynode n, const fm_fit_entry *e, char **err)
{
    static const char *const by_form[3][5] = {
        {"coefficients", NULL},
        {"prefill_ms", "decode_small_ms", "decode_large_ms", "decode_threshold", NULL},
        {"tokens", "layer_ms", NULL},
    };
    static const char *const common[] = {"accelerator", "model", "tp", "source", "form", "fit"};
    for (size_t i = 0; i < fu_ynode_len(n); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(n, i));
        bool ok = false;
        for (size_t j = 0; k && j < 6; j++)
            ok |= strcmp(k, common[j]) == 0;
        for (size_t j = 0; k && by_form[e->form][j]; j++)
            ok |= strcmp(k, by_form[e->form][j]) == 0;
        if (!ok)
            return fail(err, fu_ynode_errf(fu_ymap_key(n, i), "unknown key '%s' in a %s entry",
                                           k ? k : "?", e->form == FM_FORM_SCALED ? "scaled"
                                           : e->form == FM_FORM_DISTSERVE ? "distserve"
                                                                          : "profile"),
                        -EINVAL);
    }
    return 0;
}

static int read_entry(fu_ynode n, fm_fits *f, char **err)
{
    static const char *const skip[] = {"form", "coefficients", "fit", "prefill_ms",
                                       "decode_small_ms", "decode_large_ms", "tokens",
                                       "layer_ms", NULL};
    if (!fu_ynode_is_map(n))
        return fail(err, fu_ynode_errf(n, "expected a mapping for a fit entry"), -EINVAL);
    fm_fit_entry e = {0};
    int rc = fu_yaml_apply(n, "fit entry", entry_fields, skip, &e, err);
    fu_ynode q = fu_ymap_get(n, "fit");
    if (rc == 0 && (!e.accel[0] || !e.model[0] || e.tp == 0))
        rc = fail(err, fu_ynode_errf(n, "a fit entry needs accelerator, model and tp"),
                  -EINVAL);
    if (rc == 0)
        rc = read_form(n, &e, err);
    if (rc == 0)
        rc = check_keys(n, &e, err);
    if (rc == 0 && fu_ynode_ok(q))
        rc = read_quality(q, &e, err);
    if (rc == 0 && fm_fits_add(f, &e))
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    entry_free(&e);
    return rc;
}

typedef struct coll_doc {
    int workers, dpn;
    double lat_us, gbps;
} coll_doc;

static int read_coll_list(fu_ynode n, fm_coll_kind kind, fm_collectives *c, char **err)
{
    static const fu_yfield fields[] = {
        {"workers", FU_Y_INT, offsetof(coll_doc, workers), 0, 1, 1e6, 0, "ranks"},
        {"devices_per_node", FU_Y_INT, offsetof(coll_doc, dpn), 0, 1, 1e6, 0, ""},
        {"latency_us", FU_Y_DOUBLE, offsetof(coll_doc, lat_us), 0, 0, 1e9, 0, "microseconds"},
        {"gb_per_s", FU_Y_DOUBLE, offsetof(coll_doc, gbps), 0, 1e-9, 1e9, 0,
         "bandwidth, GB/s (1e9 bytes)"},
        {NULL},
    };
    if (!fu_ynode_is_seq(n))
        return fail(err, fu_ynode_errf(n, "expected a list of {workers, devices_per_node, "
                                          "latency_us, gb_per_s}"), -EINVAL);
    for (size_t i = 0; i < fu_ynode_len(n); i++) {
        coll_doc d = {0};
        fu_ynode it = fu_yseq_item(n, i);
        int rc = fu_yaml_apply(it, "collective", fields, NULL, &d, err);
        if (rc == 0 && (d.workers == 0 || d.gbps == 0))
            rc = fail(err, fu_ynode_errf(it, "a collective needs workers and gb_per_s"),
                      -EINVAL);
        if (rc == 0 && c->n == FM_COLL_MAX)
            rc = fail(err, fu_ynode_errf(it, "more than %d collectives", FM_COLL_MAX), -EINVAL);
        if (rc)
            return rc;
        c->fit[c->n++] = (fm_coll_fit){kind, d.workers, d.dpn ? d.dpn : d.workers,
                                       d.lat_us / 1e6, d.gbps * 1e9};
    }
    return 0;
}

static int read_collectives(fu_ynode n, fm_fits *f, char **err)
{
    static const fu_yfield fields[] = {
        {"accelerator", FU_Y_STR, offsetof(fm_collectives, accel), FM_NAME_MAX, 0, 0, 0, ""},
        {NULL},
    };
    static const char *const skip[] = {"source", "all_reduce", "send_recv", NULL};
    fm_collectives c;
    memset(&c, 0, sizeof c);
    int rc = fu_yaml_apply(n, "collectives entry", fields, skip, &c, err);
    fu_ynode ar = fu_ymap_get(n, "all_reduce"), sr = fu_ymap_get(n, "send_recv");
    if (rc == 0 && !c.accel[0])
        rc = fail(err, fu_ynode_errf(n, "a collectives entry needs accelerator"), -EINVAL);
    if (rc == 0 && fu_ynode_ok(ar))
        rc = read_coll_list(ar, FM_COLL_ALL_REDUCE, &c, err);
    if (rc == 0 && fu_ynode_ok(sr))
        rc = read_coll_list(sr, FM_COLL_SEND_RECV, &c, err);
    if (rc == 0 && fm_fits_add_coll(f, &c))
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    return rc;
}

static int read_list(fu_ynode n, const char *what, fm_fits *f,
                     int (*one)(fu_ynode, fm_fits *, char **), char **err)
{
    if (!fu_ynode_is_seq(n))
        return fail(err, fu_ynode_errf(n, "expected a list under %s:", what), -EINVAL);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < fu_ynode_len(n); i++)
        rc = one(fu_yseq_item(n, i), f, err);
    return rc;
}

static int load_file(const char *path, fm_fits *f, char **err)
{
    fu_yaml *doc;
    int rc = fu_yaml_load_file(path, &doc, err);
    if (rc)
        return rc;
    fu_ynode root = fu_yaml_root(doc);
    if (!fu_ynode_is_map(root))
        rc = fail(err, fu_asprintf("%s: expected a mapping with fits: and/or collectives:",
                                   path), -EINVAL);
    for (size_t i = 0; rc == 0 && i < fu_ynode_len(root); i++) {
        const char *k = fu_ynode_str(fu_ymap_key(root, i));
        fu_ynode v = fu_ymap_val(root, i);
        if (k && strcmp(k, "fits") == 0)
            rc = read_list(v, "fits", f, read_entry, err);
        else if (k && strcmp(k, "collectives") == 0)
            rc = read_list(v, "collectives", f, read_collectives, err);
        else
            rc = fail(err, fu_ynode_errf(fu_ymap_key(root, i), "unknown key '%s' (expected "
                                                               "fits or collectives)",
                                         k ? k : "?"), -EINVAL);
    }
    fu_yaml_free(doc);
    return rc;
}

static int yaml_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && d->d_name[0] != '.' && strcmp(d->d_name + n - 5, ".yaml") == 0;
}

static int load_dir(const char *dir, fm_fits *f, char **err)
{
    struct dirent **names;
    int n = scandir(dir, &names, yaml_filter, alphasort), rc = 0;
    if (n < 0)
        return fail(err, fu_asprintf("%s: cannot read directory: %s", dir, strerror(errno)),
                    -EIO);
    for (int i = 0; i < n; i++) {
        char *p = rc ? NULL : fu_asprintf("%s/%s", dir, names[i]->d_name);
        if (!rc)
            rc = p ? load_file(p, f, err) : fail(err, fu_asprintf("out of memory"), -ENOMEM);
        free(p);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int load_uncached(const char *path, const struct stat *st, fm_fits **out, char **err)
{
    fm_fits *f = fm_fits_new();
    if (!f)
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    int rc = S_ISDIR(st->st_mode) ? load_dir(path, f, err) : load_file(path, f, err);
    if (rc) {
        fm_fits_free(f);
        return rc;
    }
    f->shared = true;
    *out = f;
    return 0;
}

/* --- the load cache --- */

#define CACHE_SLOTS 4

static struct {
    char *key;
    fm_fits *f;
} cache[CACHE_SLOTS];
static unsigned cache_next;

static void key_of_file(FILE *k, const char *path, const struct stat *st)
{
    fprintf(k, "%s:%llu:%lld:%lld.%09ld\n", path, (unsigned long long)st->st_ino,
            (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

/* Path, inode, size and mtime of the file, or of the directory and each *.yaml in it. */
static char *cache_key(const char *path, const struct stat *st)
{
    char *key = NULL;
    size_t len = 0;
    FILE *k = open_memstream(&key, &len);
    if (!k)
        return NULL;
    key_of_file(k, path, st);
    struct dirent **names = NULL;
    int n = S_ISDIR(st->st_mode) ? scandir(path, &names, yaml_filter, alphasort) : 0;
    for (int i = 0; i < n; i++) {
        char *p = fu_asprintf("%s/%s", path, names[i]->d_name);
        struct stat fs;
        if (p && stat(p, &fs) == 0)
            key_of_file(k, p, &fs);
        free(p);
        free(names[i]);
    }
    free(names);
    fclose(k);
    return key;
}

/* A reference to the cached set with this key, or NULL. */
static fm_fits *cache_get(const char *key)
{
    fm_fits *f = NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < CACHE_SLOTS && !f; i++)
        if (cache[i].key && strcmp(cache[i].key, key) == 0) {
            f = cache[i].f;
            f->refs++;
        }
    pthread_mutex_unlock(&lock);
    return f;
}

/* Keeps a reference to f under key (taking key), dropping the oldest entry. */
static void cache_put(char *key, fm_fits *f)
{
    pthread_mutex_lock(&lock);
    unsigned slot = cache_next++ % CACHE_SLOTS;
    char *old_key = cache[slot].key;
    fm_fits *old = cache[slot].f;
    cache[slot].key = key;
    cache[slot].f = f;
    f->refs++;
    pthread_mutex_unlock(&lock);
    free(old_key);
    fm_fits_free(old);
}

int fm_fits_load(const char *path, fm_fits **out, char **err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(err, fu_asprintf("%s: cannot open fit file: %s", path, strerror(errno)),
                    errno == ENOENT ? -ENOENT : -EIO);
    char *key = cache_key(path, &st);
    fm_fits *f = key ? cache_get(key) : NULL;
    if (f) {
        free(key);
        *out = f;
        return 0;
    }
    int rc = load_uncached(path, &st, &f, err);
    if (rc == 0 && key)
        cache_put(key, f);
    else
        free(key);
    if (rc == 0)
        *out = f;
    return rc;
}

const char *fm_default_fits_dir(void)
{
    static char buf[4096];
    const char *env = getenv("FLEETSIM_DATADIR");
    struct stat st;
    if (env && *env)
        snprintf(buf, sizeof buf, "%s/fits", env);
    else {
        snprintf(buf, sizeof buf, "%s/fits", FLEETSIM_DATADIR);
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            snprintf(buf, sizeof buf, "%s/models/fits", FLEETSIM_SRCDIR);
    }
    return buf;
}

/* --- writing --- */

static void write_quality(FILE *o, const fm_fit_quality *q)
{
    fprintf(o, "    fit: {rows: %zu, held_out: %zu, median_error_pct: %.3g, mape_pct: %.3g, "
               "held_median_error_pct: %.3g, held_mape_pct: %.3g, held_max_error_pct: %.3g}\n",
            q->n_fit, q->n_held, q->fit_median_pct, q->fit_mape_pct, q->held_median_pct,
            q->held_mape_pct, q->held_max_pct);
}

static void write_triple(FILE *o, const char *key, const double v[3])
{
    fprintf(o, "    %s: [%.10g, %.10g, %.10g]\n", key, v[0], v[1], v[2]);
}

static void write_numbers(FILE *o, const char *key, const double *v, size_t n, double scale)
{
    fprintf(o, "    %s: [", key);
    for (size_t i = 0; i < n; i++)
        fprintf(o, "%s%s%.6g", i ? ", " : "", i && i % 10 == 0 ? "\n      " : "", v[i] * scale);
    fprintf(o, "]\n");
}

static void write_entry(FILE *o, const fm_fit_entry *e)
{
    static const char *const forms[] = {"scaled", "distserve", "profile"};
    const fm_scaled_coef *k = &e->scaled;
    fprintf(o, "  - accelerator: %s\n    model: %s\n    tp: %d\n    form: %s\n", e->accel,
            e->model, e->tp, forms[e->form]);
    if (e->source[0]) {
        fprintf(o, "    source: \"");
        for (const char *c = e->source; *c; c++)
            fprintf(o, "%s%c", *c == '"' || *c == '\\' ? "\\" : "", *c);
        fprintf(o, "\"\n");
    }
    if (e->form == FM_FORM_SCALED)
        fprintf(o, "    coefficients: {step_s: %.6g, seq_s: %.6g, layer_s: %.6g,\n"
                   "                   lin_flops: %.6g, lin_bytes: %.6g, lin_p: %.6g,\n"
                   "                   attn_flops: %.6g, attn_bytes: %.6g, attn_p: %.6g, "
                   "comm: %.6g}\n",
                k->step_s, k->seq_s, k->layer_s, k->lin_flops, k->lin_bytes, k->lin_p,
                k->attn_flops, k->attn_bytes, k->attn_p, k->comm);
    if (e->form == FM_FORM_DISTSERVE) {
        write_triple(o, "prefill_ms", e->ds.prefill);
        write_triple(o, "decode_small_ms", e->ds.small);
        write_triple(o, "decode_large_ms", e->ds.large);
        fprintf(o, "    decode_threshold: %d\n", e->ds.threshold);
    }
    if (e->form == FM_FORM_PROFILE) {
        write_numbers(o, "tokens", e->tokens, e->npoints, 1);
        write_numbers(o, "layer_ms", e->layer_s, e->npoints, 1e3);
    }
    if (e->has_q)
        write_quality(o, &e->q);
}

static void write_coll(FILE *o, const fm_collectives *c)
{
    fprintf(o, "  - accelerator: %s\n", c->accel);
    for (int kind = 0; kind < 2; kind++) {
        bool any = false;
        for (size_t i = 0; i < c->n; i++) {
            const fm_coll_fit *f = &c->fit[i];
            if ((int)f->kind != kind)
                continue;
            if (!any)
                fprintf(o, "    %s:\n", kind == FM_COLL_ALL_REDUCE ? "all_reduce" : "send_recv");
            any = true;
            fprintf(o, "      - {workers: %d, devices_per_node: %d, latency_us: %.4g, "
                       "gb_per_s: %.4g}\n", f->workers, f->devices_per_node,
                    f->latency_s * 1e6, f->bw / 1e9);
        }
    }
}

int fm_fits_write(const fm_fits *f, FILE *o, const char *comment)
{
    for (const char *p = comment; p && *p;) {
        size_t len = strcspn(p, "\n");
        fprintf(o, "# %.*s\n", (int)len, p);
        p += len + (p[len] == '\n');
    }
    if (f->n)
        fprintf(o, "fits:\n");
    for (size_t i = 0; i < f->n; i++)
        write_entry(o, &f->e[i]);
    if (f->ncoll)
        fprintf(o, "collectives:\n");
    for (size_t i = 0; i < f->ncoll; i++)
        write_coll(o, &f->coll[i]);
    return ferror(o) ? -EIO : 0;
}
