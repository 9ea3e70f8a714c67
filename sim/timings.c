/*
 * timings.c: reads per-request timings of a real serving benchmark (replayfit.h lists
 * the formats). Every format becomes one JSON object per request (a CSV row becomes
 * {column: number}), so the field aliases and checks are written once.
 *
 * Benchmark files are small (tens of thousands of requests at most), so a file is read
 * whole; the requests are then sorted by arrival, as a replay needs.
 */
#include "replayfit.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>
#include <jansson.h>

#include "fu_yaml.h"

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* --- one request from one object --- */

static const char *const k_arrival[] = {"arrival_time", "arrival_s", "start_time", "send_time",
                                        "timestamp", NULL};
static const char *const k_input[] = {"input_tokens", "prompt_tokens", "input_len",
                                      "prompt_len", NULL};
static const char *const k_output[] = {"output_tokens", "completion_tokens", "output_len",
                                       NULL};
static const char *const k_ttft[] = {"ttft", "ttft_s", NULL};
static const char *const k_ttft_ms[] = {"ttft_ms", NULL};
static const char *const k_e2e[] = {"e2e", "latency", "e2e_latency", "e2e_s", NULL};
static const char *const k_e2e_ms[] = {"e2e_ms", "latency_ms", NULL};
static const char *const k_first[] = {"first_token_time", NULL};
static const char *const k_last[] = {"last_token_time", NULL};

/* 1 and *v when one of `keys` holds a finite number, 0 when none is present, -1 bad. */
static int field(json_t *o, const char *const *keys, double *v, const char **which)
{
    for (size_t i = 0; keys[i]; i++) {
        json_t *x = json_object_get(o, keys[i]);
        if (!x || json_is_null(x))
            continue;
        *which = keys[i];
        if (!json_is_number(x) || !isfinite(json_number_value(x)))
            return -1;
        *v = json_number_value(x);
        return 1;
    }
    return 0;
}

typedef struct where {
    const char *path;
    int line;
} where;

static int bad(const where *w, const char *what, char **err)
{
    return fail(err, fu_asprintf("%s:%d: %s", w->path, w->line, what), -EINVAL);
}

/* A required number from the first present alias. */
static int need(json_t *o, const char *const *keys, const char *what, const where *w,
                double *v, char **err)
{
    const char *k = NULL;
    int f = field(o, keys, v, &k);
    if (f == 1)
        return 0;
    char *msg = f == 0 ? fu_asprintf("missing %s (one of %s, ...)", what, keys[0])
                       : fu_asprintf("%s: expected a number", k);
    int rc = bad(w, msg ? msg : "out of memory", err);
    free(msg);
    return rc;
}

/* A latency given as an absolute time, a latency in s, or one in ms. */
static int latency(json_t *o, const char *const *abs_keys, const char *const *s_keys,
                   const char *const *ms_keys, double arrival, const char *what,
                   const where *w, double *out, char **err)
{
    const char *k;
    double v;
    int f;
    if ((f = field(o, abs_keys, &v, &k)) == 1)
        *out = v - arrival;
    else if (f == 0 && (f = field(o, s_keys, &v, &k)) == 1)
        *out = v;
    else if (f == 0 && (f = field(o, ms_keys, &v, &k)) == 1)
        *out = v / 1e3;
    if (f == 1 && *out >= 0)
        return 0;
    char *msg = f == 0 ? fu_asprintf("missing %s (%s, %s or %s)", what, abs_keys[0], s_keys[0],
                                     ms_keys[0])
                       : fu_asprintf("%s: expected a number giving a non-negative latency", k);
    int rc = bad(w, msg ? msg : "out of memory", err);
    free(msg);
    return rc;
}

/* 1: *r filled; 0: a request with no output (failed), skipped; < 0: error. */
static int from_object(json_t *o, const where *w, fs_timed_req *r, char **err)
{
    double in, out;
    int rc;
    if (!json_is_object(o))
        return bad(w, "expected an object per request", err);
    if ((rc = need(o, k_arrival, "arrival time", w, &r->arrival_s, err)) ||
        (rc = need(o, k_input, "input tokens", w, &in, err)) ||
        (rc = need(o, k_output, "output tokens", w, &out, err)))
        return rc;
    if (in < 1 || in > 1e8 || out < 0 || out > 1e8 || in != floor(in) || out != floor(out))
        return bad(w, "expected token counts that are whole numbers, input >= 1", err);
    if (out == 0)
        return 0;
    r->input_tokens = (uint32_t)in;
    r->output_tokens = (uint32_t)out;
    r->line = w->line;
    if ((rc = latency(o, k_first, k_ttft, k_ttft_ms, r->arrival_s, "first-token time", w,
                      &r->ttft_s, err)) ||
        (rc = latency(o, k_last, k_e2e, k_e2e_ms, r->arrival_s, "last-token time", w,
                      &r->e2e_s, err)))
        return rc;
    if (r->e2e_s < r->ttft_s)
        return bad(w, "the last token comes before the first", err);
    return 1;
}

/* --- collecting requests --- */

typedef struct coll {
    fs_timed_req *v;
    size_t n, cap;
} coll;

static int add(coll *c, json_t *o, const where *w, char **err)
{
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 256;
        fs_timed_req *p = realloc(c->v, nc * sizeof *p);
        if (!p)
            return fail(err, fu_asprintf("out of memory"), -ENOMEM);
        c->v = p;
        c->cap = nc;
    }
    int rc = from_object(o, w, &c->v[c->n], err);
    if (rc == 1)
        c->n++;
    return rc < 0 ? rc : 0;
}

/* --- JSON: lines, an array of objects, or a vLLM result of parallel arrays --- */

static int vllm_arrays(json_t *root, const char *path, coll *c, char **err)
{
    static const char *const keys[] = {"input_lens", "output_lens", "ttfts", "itls",
                                       "start_times"};
    json_t *a[5];
    size_t n = json_array_size(json_object_get(root, "input_lens"));
    for (size_t i = 0; i < 5; i++) {
        a[i] = json_object_get(root, keys[i]);
        if (!json_is_array(a[i]) || json_array_size(a[i]) != n)
            return fail(err, fu_asprintf("%s: a vLLM result needs arrays input_lens, "
                                         "output_lens, ttfts, itls and start_times of one "
                                         "length (missing or different: %s)", path, keys[i]),
                        -EINVAL);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        double itl = 0;
        json_t *gaps = json_array_get(a[3], i), *g;
        size_t j;
        json_array_foreach(gaps, j, g) itl += json_number_value(g);
        json_t *o = json_pack("{s:O, s:O, s:O, s:O}", "start_time", json_array_get(a[4], i),
                              "input_tokens", json_array_get(a[0], i), "output_tokens",
                              json_array_get(a[1], i), "ttft", json_array_get(a[2], i));
        double ttft = json_number_value(json_array_get(a[2], i));
        if (!o || json_object_set_new(o, "e2e", json_real(ttft + itl)))
            rc = fail(err, fu_asprintf("out of memory"), -ENOMEM);
        where w = {path, (int)i + 1};
        if (rc == 0)
            rc = add(c, o, &w, err);
        json_decref(o);
    }
    return rc;
}

static int json_lines(const char *text, const char *path, coll *c, char **err)
{
    int rc = 0, line = 0;
    for (const char *p = text; rc == 0 && *p;) {
        size_t len = strcspn(p, "\n");
        line++;
        size_t k = 0;
        while (k < len && isspace((unsigned char)p[k]))
            k++;
        if (k < len) {
            json_error_t je;
            json_t *o = json_loadb(p, len, 0, &je);
            where w = {path, line};
            rc = o ? add(c, o, &w, err)
                   : fail(err, fu_asprintf("%s:%d:%d: %s", path, line, je.column, je.text),
                          -EINVAL);
            json_decref(o);
        }
        p += len + (p[len] == '\n');
    }
    return rc;
}

static int read_json(const char *text, const char *path, coll *c, char **err)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    int rc;
    if (json_is_object(root) && json_object_get(root, "input_lens"))
        rc = vllm_arrays(root, path, c, err);
    else if (json_is_array(root)) {
        size_t i;
        json_t *o;
        rc = 0;
        json_array_foreach(root, i, o) {
            where w = {path, (int)i + 1};
            if (rc == 0)
                rc = add(c, o, &w, err);
        }
    } else
        rc = json_lines(text, path, c, err);
    json_decref(root);
    return rc;
}

/* --- CSV --- */

typedef struct csv_state {
    const char *path;
    coll *c;
    char **names;               /* header */
    size_t ncols, col;
    json_t *row;
    int line, rc;
    char **err;
} csv_state;

static void csv_field(void *s, size_t len, void *data)
{
    csv_state *st = data;
    if (st->rc)
        return;
    const char *v = s ? s : "";
    if (st->line == 1) {
        char **p = realloc(st->names, (st->ncols + 1) * sizeof *p);
        if (!p || !(p[st->ncols] = strndup(v, len)))
            st->rc = fail(st->err, fu_asprintf("out of memory"), -ENOMEM);
        else
            st->names = p, st->ncols++;
        return;
    }
    if (!st->row)
        st->row = json_object();
    char *end;
    double x = strtod(v, &end);
    if (st->row && st->col < st->ncols && len > 0)
        json_object_set_new(st->row, st->names[st->col],
                            end != v && *end == '\0' ? json_real(x) : json_stringn(v, len));
    st->col++;
}

static void csv_row(int ch, void *data)
{
    csv_state *st = data;
    if (st->rc == 0 && st->line > 1) {
        where w = {st->path, st->line};
        st->rc = st->col != st->ncols
                     ? bad(&w, "expected as many fields as the header", st->err)
                     : add(st->c, st->row, &w, st->err);
    }
    json_decref(st->row);
    st->row = NULL;
    st->col = 0;
    st->line++;
}

static int read_csv(const char *text, size_t len, const char *path, coll *c, char **err)
{
    struct csv_parser p;
    csv_state st = {.path = path, .c = c, .line = 1, .err = err};
    csv_init(&p, CSV_APPEND_NULL);
    if (csv_parse(&p, text, len, csv_field, csv_row, &st) != len && st.rc == 0)
        st.rc = fail(err, fu_asprintf("%s:%d: malformed CSV", path, st.line), -EINVAL);
    if (st.rc == 0)
        csv_fini(&p, csv_field, csv_row, &st);
    csv_free(&p);
    json_decref(st.row);
    for (size_t i = 0; i < st.ncols; i++)
        free(st.names[i]);
    free(st.names);
    return st.rc;
}

/* --- the file --- */

static char *slurp(const char *path, size_t *len, char **err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        fail(err, fu_asprintf("%s: cannot open: %s", path, strerror(errno)), -ENOENT);
        return NULL;
    }
    FILE *m = open_memstream(&buf, len);
    char chunk[65536];
    size_t k;
    while (m && (k = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, k, m);
    if (m)
        fclose(m);
    fclose(f);
    if (!buf)
        fail(err, fu_asprintf("%s: out of memory", path), -ENOMEM);
    return buf;
}

static int by_arrival(const void *a, const void *b)
{
    double x = ((const fs_timed_req *)a)->arrival_s, y = ((const fs_timed_req *)b)->arrival_s;
    return (x > y) - (x < y);
}

int fs_timings_read(const char *path, fs_timed_req **out, size_t *n, char **err)
{
    size_t len;
    char *text = slurp(path, &len, err);
    if (!text)
        return -EIO;
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    coll c = {0};
    int rc = *p == '{' || *p == '[' ? read_json(text, path, &c, err)
                                    : read_csv(text, len, path, &c, err);
    free(text);
    if (rc == 0 && c.n == 0)
        rc = fail(err, fu_asprintf("%s: no request with output tokens", path), -EINVAL);
    if (rc) {
        free(c.v);
        return rc;
    }
    qsort(c.v, c.n, sizeof *c.v, by_arrival);
    double t0 = c.v[0].arrival_s;
    for (size_t i = 0; i < c.n; i++)
        c.v[i].arrival_s -= t0;
    *out = c.v;
    *n = c.n;
    return 0;
}
