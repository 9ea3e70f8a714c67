/*
 * calibdata.c: readers of measured latency data for calibration and validation:
 * vidur's operator and collective profiles (CSV), DistServe's fitted coefficient files
 * (JSON), and the project's own step-time CSV; plus the synthetic batches on which
 * DistServe's coefficients are compared with a fitted model.
 *
 * The files are small (vidur's largest profile is 1.2 MB, 1,824 rows), so a CSV is
 * read whole with libcsv into a table of strings and then interpreted by column name;
 * streaming would buy nothing here. Every bad value names file:line and the column.
 */
#include "fm_fit.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>
#include <jansson.h>

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* --- a CSV file as a table of strings --- */

typedef struct table {
    char **cell;            /* row-major; row 0 is the header */
    size_t ncell, cap;
    size_t ncols, nrows;    /* rows including the header */
    size_t in_row;          /* fields of the row being read */
    bool ragged;
    size_t ragged_row;
    bool oom;
} table;

static void on_field(void *s, size_t len, void *data)
{
    table *t = data;
    if (t->oom)
        return;
    if (t->ncell == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 1024;
        char **p = realloc(t->cell, nc * sizeof *p);
        if (!p) {
            t->oom = true;
            return;
        }
        t->cell = p;
        t->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) {
        t->oom = true;
        return;
    }
    memcpy(c, s ? s : "", len);
    c[len] = '\0';
    t->cell[t->ncell++] = c;
    t->in_row++;
}

static void on_row(int c, void *data)
{
    table *t = data;
    if (t->nrows == 0)
        t->ncols = t->in_row;
    else if (t->in_row != t->ncols && !t->ragged) {
        t->ragged = true;
        t->ragged_row = t->nrows;
    }
    t->nrows++;
    t->in_row = 0;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->ncell; i++)
        free(t->cell[i]);
    free(t->cell);
}

static int table_read(const char *path, table *t, char **err)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, fu_asprintf("%s: cannot open: %s", path, strerror(errno)),
                    errno == ENOENT ? -ENOENT : -EIO);
    struct csv_parser p;
    csv_init(&p, CSV_APPEND_NULL);
    char buf[65536];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0)
        if (csv_parse(&p, buf, n, on_field, on_row, t) != n)
            rc = -EINVAL;
    if (rc == 0)
        csv_fini(&p, on_field, on_row, t);
    csv_free(&p);
    fclose(f);
    if (rc == 0 && t->oom)
        rc = fail(err, fu_asprintf("%s: out of memory", path), -ENOMEM);
    else if (rc)
        rc = fail(err, fu_asprintf("%s: malformed CSV", path), rc);
    else if (t->ragged)
        rc = fail(err, fu_asprintf("%s:%zu: expected %zu fields like the header", path,
                                   t->ragged_row + 1, t->ncols), -EINVAL);
    else if (t->nrows < 2)
        rc = fail(err, fu_asprintf("%s: no data rows", path), -EINVAL);
    if (rc)
        table_free(t);
    return rc;
}

static const char *cell(const table *t, size_t row, size_t col)
{
    return t->cell[row * t->ncols + col];
}

/* Column index of `name`, or -1. */
static long column(const table *t, const char *name)
{
    for (size_t j = 0; j < t->ncols; j++)
        if (strcmp(cell(t, 0, j), name) == 0)
            return (long)j;
    return -1;
}

static int need_col(const table *t, const char *path, const char *name, long *out, char **err)
{
    *out = column(t, name);
    if (*out >= 0)
        return 0;
    return fail(err, fu_asprintf("%s:1: missing column '%s'", path, name), -EINVAL);
}

/* A finite number in [lo, hi] from row r (line r + 1), column c. */
static int num(const table *t, const char *path, size_t r, long c, double lo, double hi,
               double *out, char **err)
{
    const char *s = cell(t, r, (size_t)c);
    char *end;
    double v = strtod(s, &end);
    if (*s && *end == '\0' && isfinite(v) && v >= lo && v <= hi) {
        *out = v;
        return 0;
    }
    return fail(err, fu_asprintf("%s:%zu: column '%s': expected a number in [%g, %g], got '%s'",
                                 path, r + 1, cell(t, 0, (size_t)c), lo, hi, s), -EINVAL);
}

/* --- vidur compute profiles (mlp.csv) --- */

static int read_shape(const table *t, const char *path, size_t r, fm_vidur_shape *s, char **err)
{
    static const char *const cols[] = {"n_head", "n_kv_head", "n_embd", "n_expanded_embd",
                                       "vocab_size"};
    int *dst[] = {&s->n_head, &s->n_kv_head, &s->n_embd, &s->n_expanded_embd, &s->vocab};
    memset(s, 0, sizeof *s); /* padding too: shapes are compared with memcmp */
    for (size_t i = 0; i < 5; i++) {
        long c;
        double v;
        int rc = need_col(t, path, cols[i], &c, err);
        if (rc || (rc = num(t, path, r, c, 1, 1e9, &v, err)))
            return rc;
        *dst[i] = (int)v;
    }
    long g = column(t, "use_gated_mlp");
    s->gated = g >= 0 && strcasecmp(cell(t, r, (size_t)g), "true") == 0;
    return 0;
}

static bool is_op_median(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "time_stats.", 11) == 0 && n > 18 &&
           strcmp(name + n - 7, ".median") == 0 && strcmp(name, "time_stats.emb.median") != 0;
}

static int mlp_row(const table *t, const char *path, size_t r, long ctok, long ctp,
                   fm_mlp_row *out, char **err)
{
    double tok, tp, sum = 0, v;
    int rc = num(t, path, r, ctok, 1, 1e9, &tok, err);
    if (rc || (rc = num(t, path, r, ctp, 1, 1024, &tp, err)))
        return rc;
    for (size_t j = 0; j < t->ncols; j++) {
        if (!is_op_median(cell(t, 0, j)))
            continue;
        if ((rc = num(t, path, r, (long)j, 0, 1e9, &v, err)))
            return rc;
        sum += v;
    }
    if (!(sum > 0))
        return fail(err, fu_asprintf("%s:%zu: operator times sum to 0", path, r + 1), -EINVAL);
    *out = (fm_mlp_row){.tp = (int)tp, .tokens = (uint32_t)tok, .layer_s = sum / 1e3,
                        .line = (int)r + 1};
    return 0;
}

int fm_vidur_mlp_read(const char *path, fm_mlp_row **rows, size_t *n, fm_vidur_shape *shape,
                      char **err)
{
    table t;
    long ctok, ctp;
    int rc = table_read(path, &t, err);
    if (rc)
        return rc;
    fm_mlp_row *v = malloc((t.nrows - 1) * sizeof *v);
    if (!v)
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    if (rc == 0 && (rc = need_col(&t, path, "num_tokens", &ctok, err)) == 0)
        rc = need_col(&t, path, "num_tensor_parallel_workers", &ctp, err);
    if (rc == 0)
        rc = read_shape(&t, path, 1, shape, err);
    for (size_t r = 1; rc == 0 && r < t.nrows; r++) {
        fm_vidur_shape s;
        if ((rc = read_shape(&t, path, r, &s, err)) == 0 && memcmp(&s, shape, sizeof s) != 0)
            rc = fail(err, fu_asprintf("%s:%zu: model shape differs from line 2's", path,
                                       r + 1), -EINVAL);
        if (rc == 0)
            rc = mlp_row(&t, path, r, ctok, ctp, &v[r - 1], err);
    }
    table_free(&t);
    if (rc) {
        free(v);
        return rc;
    }
    *rows = v;
    *n = t.nrows - 1;
    return 0;
}

int fm_vidur_shape_check(const fm_vidur_shape *s, const fm_llm *m, const char *path,
                         char **err)
{
    const char *what = s->n_head != m->n_heads              ? "attention heads"
                       : s->n_kv_head != m->n_kv_heads      ? "KV heads"
                       : s->n_embd != m->d_model            ? "hidden size"
                       : s->n_expanded_embd != m->d_ff      ? "MLP width"
                       : s->gated != m->gated_mlp           ? "gated MLP"
                                                            : NULL;
    if (!what)
        return 0;
    return fail(err, fu_asprintf("%s: the profiled model's %s differ from %s's (heads %d/%d, "
                                 "kv heads %d/%d, hidden %d/%d, MLP %d/%d)", path, what,
                                 m->name, s->n_head, m->n_heads, s->n_kv_head, m->n_kv_heads,
                                 s->n_embd, m->d_model, s->n_expanded_embd, m->d_ff), -EINVAL);
}

/* --- vidur network profiles --- */

static int net_row(const table *t, const char *path, size_t r, const long c[5],
                   fm_coll_row *out, char **err)
{
    double w, d, size, ms;
    int rc = num(t, path, r, c[0], 1, 1e6, &w, err);
    if (rc || (rc = num(t, path, r, c[1], 1, 1e6, &d, err)) ||
        (rc = num(t, path, r, c[2], 0, 1e15, &size, err)))
        return rc;
    const char *kind = cell(t, r, (size_t)c[4]);
    bool ar = strcmp(kind, "all_reduce") == 0;
    if (!ar && strcmp(kind, "send_recv") != 0)
        return fail(err, fu_asprintf("%s:%zu: expected collective all_reduce or send_recv, "
                                     "got '%s'", path, r + 1, kind), -EINVAL);
    char col[64];
    snprintf(col, sizeof col, "time_stats.%s.median", kind);
    long ct = column(t, col);
    if (ct < 0)
        return fail(err, fu_asprintf("%s:1: missing column '%s'", path, col), -EINVAL);
    if ((rc = num(t, path, r, ct, 1e-9, 1e9, &ms, err)))
        return rc;
    *out = (fm_coll_row){ar ? FM_COLL_ALL_REDUCE : FM_COLL_SEND_RECV, (int)w, (int)d, size,
                         ms / 1e3, (int)r + 1};
    return 0;
}

int fm_vidur_net_read(const char *path, fm_coll_row **rows, size_t *n, char **err)
{
    static const char *const cols[] = {"num_workers", "devices_per_node", "size", "rank",
                                       "collective"};
    table t;
    long c[5];
    int rc = table_read(path, &t, err);
    if (rc)
        return rc;
    for (size_t i = 0; rc == 0 && i < 5; i++)
        rc = need_col(&t, path, cols[i], &c[i], err);
    fm_coll_row *v = rc ? NULL : malloc((t.nrows - 1) * sizeof *v);
    if (rc == 0 && !v)
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    for (size_t r = 1; rc == 0 && r < t.nrows; r++)
        rc = net_row(&t, path, r, c, &v[r - 1], err);
    table_free(&t);
    if (rc) {
        free(v);
        return rc;
    }
    *rows = v;
    *n = t.nrows - 1;
    return 0;
}

/* --- DistServe coefficient files --- */

static int ds_triple(json_t *o, const char *key, double out[3])
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) != 3)
        return -EINVAL;
    for (size_t i = 0; i < 3; i++) {
        json_t *x = json_array_get(a, i);
        if (!json_is_number(x))
            return -EINVAL;
        out[i] = json_number_value(x);
    }
    return 0;
}

static int ds_entry(const char *path, const char *model, const char *tp, json_t *o,
                    fm_distserve_row *out, char **err)
{
    char *end;
    long t = strtol(tp, &end, 10);
    json_t *th = json_object_get(o, "decoding_large_small_bs_threshold");
    if (*tp && *end == '\0' && t >= 1 && t <= 1024 && json_is_object(o) &&
        json_is_integer(th) && json_integer_value(th) >= 1 &&
        ds_triple(o, "prefill", out->c.prefill) == 0 &&
        ds_triple(o, "decoding_smallbs", out->c.small) == 0 &&
        ds_triple(o, "decoding_largebs", out->c.large) == 0) {
        snprintf(out->model, sizeof out->model, "%s", model);
        out->tp = (int)t;
        out->c.threshold = (int)json_integer_value(th);
        return 0;
    }
    return fail(err, fu_asprintf("%s: %s, tp '%s': expected {decoding_large_small_bs_threshold: "
                                 "N, prefill: [a, b, c], decoding_smallbs: [a, b, c], "
                                 "decoding_largebs: [a, b, c]}", path, model, tp), -EINVAL);
}

int fm_distserve_read(const char *path, fm_distserve_row **rows, size_t *n, char **err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return fail(err, fu_asprintf("%s:%d:%d: %s", path, je.line, je.column, je.text),
                    -EINVAL);
    size_t cap = 0, k = 0;
    const char *model, *tp;
    json_t *per_model, *o;
    int rc = json_is_object(root) ? 0 : -EINVAL;
    json_object_foreach(root, model, per_model) cap += json_object_size(per_model);
    fm_distserve_row *v = calloc(cap ? cap : 1, sizeof *v);
    if (rc)
        rc = fail(err, fu_asprintf("%s: expected an object of models", path), rc);
    else if (!v)
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    json_object_foreach(root, model, per_model) {
        if (rc == 0 && !json_is_object(per_model))
            rc = fail(err, fu_asprintf("%s: %s: expected an object of TP degrees", path, model),
                      -EINVAL);
        json_object_foreach(per_model, tp, o) if (rc == 0) rc = ds_entry(path, model, tp, o,
                                                                          &v[k++], err);
    }
    json_decref(root);
    if (rc == 0 && k == 0)
        rc = fail(err, fu_asprintf("%s: no coefficients", path), -EINVAL);
    if (rc) {
        free(v);
        return rc;
    }
    *rows = v;
    *n = k;
    return 0;
}

/* splitmix64: a fixed, portable stream so the synthetic batches never change. */
static uint64_t mix(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

size_t fm_distserve_batch(uint64_t seed, size_t i, fm_seq_work *seqs, size_t cap)
{
    uint64_t s = mix(seed ^ mix(i));
    bool prefill = i % 2 == 0;
    size_t n = prefill ? 1 + (s = mix(s)) % 4 : 1 + (s = mix(s)) % 256;
    if (n > cap)
        n = cap;
    for (size_t k = 0; k < n; k++) {
        uint32_t len = 16 + (uint32_t)((s = mix(s)) % 2033);
        seqs[k] = prefill ? (fm_seq_work){len, 0} : (fm_seq_work){1, len};
    }
    return n;
}

/* --- the project's step-time CSV --- */

void fm_step_rows_free(fm_step_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++)
        free(rows[i].seqs);
    free(rows);
}

/* One COUNTxNEW@CONTEXT group; advances *s. */
static int batch_group(const char **s, unsigned long g[3])
{
    static const char seps[] = {'x', '@', '\0'};
    for (int k = 0; k < 3; k++) {
        char *end;
        if (!isdigit((unsigned char)**s))
            return -EINVAL;
        g[k] = strtoul(*s, &end, 10);
        *s = end;
        if (k < 2 && *(*s)++ != seps[k])
            return -EINVAL;
    }
    return g[0] >= 1 && g[0] <= 100000 && g[1] >= 1 && g[1] <= 10000000 && g[2] <= 100000000
               ? 0 : -EINVAL;
}

int fm_batch_parse(const char *s, const char *where, fm_seq_work **seqs, size_t *n,
                   char **err)
{
    fm_seq_work *v = NULL;
    size_t k = 0;
    const char *p = s;
    while (*p == ' ')
        p++;
    while (*p) {
        unsigned long g[3];
        if (batch_group(&p, g) != 0 || (*p && *p != ' ')) {
            free(v);
            return fail(err, fu_asprintf("%s: expected a batch as COUNTxNEW@CONTEXT groups "
                                         "separated by spaces (\"1x512@0 32x1@1024\"), got "
                                         "'%s'", where, s), -EINVAL);
        }
        fm_seq_work *nv = realloc(v, (k + g[0]) * sizeof *nv);
        if (!nv) {
            free(v);
            return fail(err, fu_asprintf("out of memory"), -ENOMEM);
        }
        v = nv;
        for (unsigned long i = 0; i < g[0]; i++)
            v[k++] = (fm_seq_work){(uint32_t)g[1], (uint32_t)g[2]};
        while (*p == ' ')
            p++;
    }
    if (k == 0)
        return fail(err, fu_asprintf("%s: empty batch", where), -EINVAL);
    *seqs = v;
    *n = k;
    return 0;
}

static int step_row(const table *t, const char *path, size_t r, const long c[5],
                    fm_step_row *out, char **err)
{
    double tp, ms;
    char where[PATH_MAX + 32];
    snprintf(where, sizeof where, "%s:%zu", path, r + 1);
    int rc = num(t, path, r, c[2], 1, 1024, &tp, err);
    if (rc || (rc = num(t, path, r, c[4], 1e-6, 1e7, &ms, err)))
        return rc;
    if (strlen(cell(t, r, (size_t)c[0])) >= FM_NAME_MAX ||
        strlen(cell(t, r, (size_t)c[1])) >= FM_NAME_MAX)
        return fail(err, fu_asprintf("%s: name too long", where), -EINVAL);
    snprintf(out->accel, sizeof out->accel, "%s", cell(t, r, (size_t)c[0]));
    snprintf(out->model, sizeof out->model, "%s", cell(t, r, (size_t)c[1]));
    out->tp = (int)tp;
    out->time_s = ms / 1e3;
    out->line = (int)r + 1;
    return fm_batch_parse(cell(t, r, (size_t)c[3]), where, &out->seqs, &out->nseqs, err);
}

int fm_steps_read(const char *path, fm_step_row **rows, size_t *n, char **err)
{
    static const char *const cols[] = {"accelerator", "model", "tp", "batch", "step_ms"};
    table t;
    long c[5];
    int rc = table_read(path, &t, err);
    if (rc)
        return rc;
    for (size_t i = 0; rc == 0 && i < 5; i++)
        rc = need_col(&t, path, cols[i], &c[i], err);
    fm_step_row *v = rc ? NULL : calloc(t.nrows - 1, sizeof *v);
    if (rc == 0 && !v)
        rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
    for (size_t r = 1; rc == 0 && r < t.nrows; r++)
        rc = step_row(&t, path, r, c, &v[r - 1], err);
    table_free(&t);
    if (rc) {
        fm_step_rows_free(v, t.nrows - 1);
        return rc;
    }
    *rows = v;
    *n = t.nrows - 1;
    return 0;
}
