/*
 * servegen.c: reads ServeGen's workload descriptions (alibaba/ServeGen, NSDI'26).
 *
 * ServeGen publishes, per model and client, measured arrival patterns and length
 * distributions rather than requests:
 *  - *-trace.csv: per 600 s window, the arrival rate, the CV of the gaps and the
 *    fitted gap family (Gamma or Weibull), which drive FT_ARR_WINDOWS;
 *  - *-dataset.json: per 6 h window, PMFs of input and output lengths, each a Python
 *    dict literal inside a JSON string, which become empirical length distributions.
 * Workload assumed: files of a few thousand windows and PMFs of up to ~10^5 points,
 * read once at load time. The CSV goes through libcsv (reader.c), the JSON through
 * jansson; only the inner "{value: probability, ...}" literal, which is not JSON, is
 * scanned here (strtod per number).
 */
#include "ft_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

/* --- windows (CSV) --- */

static bool parse_double(const char *s, double *v)
{
    char *end;
    if (!*s)
        return false;
    *v = strtod(s, &end);
    return *end == '\0' && isfinite(*v);
}

static bool parse_family(const char *s, double rate, ft_family *f)
{
    if (strcasecmp(s, "gamma") == 0)
        *f = FT_FAM_GAMMA;
    else if (strcasecmp(s, "weibull") == 0)
        *f = FT_FAM_WEIBULL;
    else if (!*s || strcasecmp(s, "exponential") == 0 || strcasecmp(s, "poisson") == 0)
        *f = FT_FAM_EXPONENTIAL;
    else
        return false;
    (void)rate;
    return true;
}

static int window_row(fti_in *in, const fti_rowref *r, ft_rate_window *w, double prev)
{
    if (r->count < 4)
        return fti_fatal(in, r->line, -EINVAL, "expected window_start_s,rate,cv,family"
                         "[,p1,p2], got %zu fields", r->count);
    const char *f[4];
    for (size_t i = 0; i < 4; i++)
        f[i] = fti_rowfield(r, i, NULL);
    char esc[200];
    if (!parse_double(f[0], &w->start_s) || w->start_s < 0 || w->start_s <= prev ||
        !parse_double(f[1], &w->rate) || w->rate < 0 || !parse_double(f[2], &w->cv) ||
        w->cv < 0 || !parse_family(f[3], w->rate, &w->family))
        return fti_fatal(in, r->line, -EINVAL, "expected increasing window starts >= 0, "
                         "rate >= 0, cv >= 0 and a family Gamma, Weibull or empty, got "
                         "'%s,%s,%s,%s'", fti_escape(f[0], strlen(f[0]), esc), f[1], f[2],
                         f[3]);
    return 0;
}

static int read_windows(fti_in *in, fti_csv *c, ft_rate_window **out, size_t *n)
{
    fti_rowref r;
    size_t cap = 0;
    int rc;
    while ((rc = fti_csv_next(c, &r)) == 1) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            ft_rate_window *p = realloc(*out, cap * sizeof *p);
            if (!p)
                return fti_fatal(in, 0, -ENOMEM, "out of memory");
            *out = p;
        }
        double prev = *n ? (*out)[*n - 1].start_s : -1;
        if ((rc = window_row(in, &r, &(*out)[*n], prev)) < 0)
            return rc;
        ++*n;
    }
    if (rc == 0 && *n == 0)
        return fti_fatal(in, 1, -EINVAL, "expected rows window_start_s,rate,cv,family,p1,p2, "
                         "got an empty file");
    return rc;
}

int ft_servegen_windows(const char *path, ft_rate_window **out, size_t *n, char **err)
{
    FILE *f = fopen(path, "rb");
    *out = NULL;
    *n = 0;
    if (!f) {
        int e = errno;
        if (err && asprintf(err, "%s: cannot open: %s", path, strerror(e)) < 0)
            *err = NULL;
        return -e;
    }
    fti_in in;
    fti_csv c;
    int rc = fti_in_init(&in, f, path, false, FTI_MAX_CSV_LINE, err);
    if (rc != 0)
        return rc;
    rc = fti_csv_init(&c, &in) ? fti_fatal(&in, 0, -ENOMEM, "out of memory")
                               : read_windows(&in, &c, out, n);
    if (rc < 0) {
        fti_in_error(&in, err);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    fti_csv_free(&c);
    fti_in_close(&in);
    return rc;
}

/* --- PMFs (JSON) --- */

typedef struct pmf {
    double *v, *w;
    size_t n, cap;
} pmf;

static int pmf_add(pmf *p, double v, double w)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 1024;
        double *a = realloc(p->v, cap * sizeof *a), *b = a ? realloc(p->w, cap * sizeof *b) : NULL;
        if (a)
            p->v = a;
        if (!a || !b)
            return -ENOMEM;
        p->w = b;
        p->cap = cap;
    }
    p->v[p->n] = v;
    p->w[p->n++] = w;
    return 0;
}

typedef struct vw {
    double v, w;
} vw;

static int by_value(const void *a, const void *b)
{
    double x = ((const vw *)a)->v, y = ((const vw *)b)->v;
    return (x > y) - (x < y);
}

/* Sorts by value and merges equal values (windows repeat them). */
static int pmf_finish(pmf *p)
{
    vw *t = malloc((p->n ? p->n : 1) * sizeof *t);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < p->n; i++)
        t[i] = (vw){ p->v[i], p->w[i] };
    qsort(t, p->n, sizeof *t, by_value);
    size_t m = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (m && p->v[m - 1] == t[i].v) {
            p->w[m - 1] += t[i].w;
        } else {
            p->v[m] = t[i].v;
            p->w[m++] = t[i].w;
        }
    }
    p->n = m;
    free(t);
    return 0;
}

/* "{v: p, v: p}" into p, each probability scaled by `scale`. 0, -EINVAL, -ENOMEM. */
static int parse_dict(const char *s, double scale, pmf *p)
{
    char *end;
    while (*s == ' ')
        s++;
    if (*s++ != '{')
        return -EINVAL;
    while (*s == ' ')
        s++;
    while (*s != '}') {
        double v = strtod(s, &end);
        if (end == s || *end != ':' || !isfinite(v) || v < 0)
            return -EINVAL;
        double w = strtod(end + 1, &end);
        if (end == s || !isfinite(w) || w < 0)
            return -EINVAL;
        if (pmf_add(p, v, w * scale) != 0)
            return -ENOMEM;
        s = end;
        while (*s == ' ')
            s++;
        if (*s == ',')
            s++;
        else if (*s != '}')
            return -EINVAL;
        while (*s == ' ')
            s++;
    }
    return s[1] == '\0' ? 0 : -EINVAL;
}

static int pmf_error(char **err, const char *path, const char *fmt, const char *a,
                     const char *b)
{
    char *body = NULL;
    if (asprintf(&body, fmt, a, b) < 0)
        body = NULL;
    if (err && asprintf(err, "%s: %s", path, body ? body : "bad PMF") < 0)
        *err = NULL;
    free(body);
    return -EINVAL;
}

static int add_window(json_t *win, const char *key, const char *field, double scale, pmf *p,
                      const char *path, char **err)
{
    const char *s = json_string_value(json_object_get(win, field));
    if (!s)
        return pmf_error(err, path, "expected a string \"%s\" in window %s", field, key);
    int rc = parse_dict(s, scale, p);
    if (rc == -EINVAL)
        return pmf_error(err, path, "expected \"%s\" of window %s to be a PMF "
                         "'{value: probability, ...}'", field, key);
    return rc;
}

static int read_pmf(json_t *root, const char *path, const char *field, const char *window,
                    pmf *p, char **err)
{
    if (!json_is_object(root) || json_object_size(root) == 0)
        return pmf_error(err, path, "expected an object of windows%s%s", "", "");
    if (window) {
        json_t *w = json_object_get(root, window);
        if (!json_is_object(w))
            return pmf_error(err, path, "expected a window '%s'%s", window, "");
        return add_window(w, window, field, 1, p, path, err);
    }
    const char *key;
    json_t *w;
    size_t used = 0;
    json_object_foreach(root, key, w) {
        size_t before = p->n;
        int rc = json_is_object(w) ? add_window(w, key, field, 1, p, path, err)
                                   : pmf_error(err, path, "expected window %s to be an "
                                               "object%s", key, "");
        if (rc != 0)
            return rc;
        used += p->n > before;          /* windows without data ("{}") do not count */
    }
    for (size_t i = 0; i < p->n; i++)
        p->w[i] /= (double)used;
    return 0;
}

int ft_servegen_pmf(const char *path, const char *field, const char *window, double **values,
                    double **weights, size_t *n, char **err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    pmf p = { 0 };
    *values = *weights = NULL;
    *n = 0;
    if (!root) {
        if (err && asprintf(err, "%s:%d:%d: %s", path, je.line, je.column, je.text) < 0)
            *err = NULL;
        return je.line <= 0 && strstr(je.text, "unable to open") ? -ENOENT : -EINVAL;
    }
    int rc = read_pmf(root, path, field, window, &p, err);
    json_decref(root);
    if (rc == 0)
        rc = pmf_finish(&p);
    if (rc == 0 && p.n == 0)
        rc = pmf_error(err, path, "expected a non-empty PMF \"%s\"%s", field, "");
    if (rc == -ENOMEM && err)
        *err = strdup("servegen: out of memory");
    if (rc != 0) {
        free(p.v);
        free(p.w);
        return rc;
    }
    *values = p.v;
    *weights = p.w;
    *n = p.n;
    return 0;
}
