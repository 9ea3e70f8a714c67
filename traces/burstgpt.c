/*
 * burstgpt.c: a streaming reader for BurstGPT traces (HPMLL/BurstGPT, CC-BY 4.0).
 *
 * One row per request of Azure OpenAI GPT services seen by a campus deployment:
 *     Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type       (v1)
 *     5,ChatGPT,472,18,490,Conversation log
 *     Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,
 *         Total tokens,Log Type                                                  (v2)
 * Workload assumed: a few million rows over weeks to months, sorted by time, with
 * two models (ChatGPT, GPT-4) and two log types (Conversation log, API log).
 *
 * Choices:
 *  - The header must be one of the two layouts exactly (a UTF-8 byte order mark is
 *    skipped). Timestamps are seconds from the trace's start (decimals allowed) and
 *    are kept as they are: the first row of the public file arrives at 5 s.
 *  - Filters: `model` and `log_type` keep only rows whose Model / Log Type equal the
 *    given text; dropped rows count as filtered, not bad.
 *  - Rows with 0 Request tokens or 0 Response tokens are failed requests in BurstGPT:
 *    by default they are dropped (filtered); zeros: one reads them as 1 token, zeros:
 *    error makes them bad rows.
 *  - v2's Session ID becomes the request's session (a hash of its text, never 0);
 *    Elapsed time (the observed latency) and Total tokens are not used.
 *  - Model and Log Type must be valid UTF-8; timestamps must not decrease.
 *  - Each prompt is one segment unique to its line: the trace has no contents.
 */
#include "ft_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

enum { C_TIME, C_SESSION, C_ELAPSED, C_MODEL, C_REQ, C_RESP, C_TOTAL, C_LOG, NCOL };

static const char *const v1[] = { "Timestamp", "Model", "Request tokens", "Response tokens",
                                  "Total tokens", "Log Type" };
static const char *const v2[] = { "Timestamp", "Session ID", "Elapsed time", "Model",
                                  "Request tokens", "Response tokens", "Total tokens",
                                  "Log Type" };
/* Column of each C_* in the v1 layout (-1: absent). */
static const int v1_col[NCOL] = { 0, -1, -1, 1, 2, 3, 4, 5 };

typedef struct burst {
    fti_in in;
    fti_csv csv;
    bool v2;
    int64_t t_prev;
    bool have_prev;
    ft_zero_policy zeros;
    char model[64], log_type[64];
    uint64_t max_requests, n;
    ft_segment seg;
} burst;

static size_t col(const burst *b, int c)
{
    return b->v2 ? (size_t)c : (size_t)v1_col[c];
}

static const char *colname(int c)
{
    return v2[c];
}

static bool header_is(const fti_rowref *h, const char *const *names, size_t n)
{
    if (h->count != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *f = fti_rowfield(h, i, NULL);
        if (i == 0 && strncmp(f, "\xEF\xBB\xBF", 3) == 0)
            f += 3;
        if (strcmp(f, names[i]) != 0)
            return false;
    }
    return true;
}

static int read_header(burst *b)
{
    fti_rowref h;
    bool skip = b->in.skip_bad;
    b->in.skip_bad = false;
    int rc = fti_csv_next(&b->csv, &h);
    b->in.skip_bad = skip;
    if (rc == 0)
        return fti_fatal(&b->in, 1, -EINVAL, "expected the header 'Timestamp,Model,Request "
                         "tokens,Response tokens,Total tokens,Log Type', got an empty file");
    if (rc < 0)
        return rc;
    b->v2 = header_is(&h, v2, 8);
    if (!b->v2 && !header_is(&h, v1, 6))
        return fti_fatal(&b->in, h.line, -EINVAL, "expected the header 'Timestamp,Model,"
                         "Request tokens,Response tokens,Total tokens,Log Type' or the v2 "
                         "layout with 'Session ID,Elapsed time' after Timestamp");
    return 0;
}

static int bad(burst *b, const fti_rowref *r, int c, const char *what)
{
    size_t len;
    const char *v = fti_rowfield(r, col(b, c), &len);
    char esc[200];
    return fti_bad_row(&b->in, r->line, "expected %s in column %s, got '%s'", what,
                       colname(c), fti_escape(v, len, esc));
}

/* A token count under the zero policy: 1 = use, 0 = drop the row, <0 = error. */
static int tokens(burst *b, const fti_rowref *r, int c, uint32_t *v)
{
    if (!fti_parse_u32(fti_rowfield(r, col(b, c), NULL), v))
        return bad(b, r, c, "a non-negative integer") < 0 ? -EINVAL : 0;
    if (*v > 0)
        return 1;
    if (b->zeros == FT_ZERO_ONE) {
        *v = 1;
        return 1;
    }
    if (b->zeros == FT_ZERO_ERROR)
        return bad(b, r, c, "a positive integer") < 0 ? -EINVAL : 0;
    b->in.filtered++;
    return 0;
}

/* The text fields: valid UTF-8, then the filters. 1 = keep, 0 = drop, <0 = error. */
static int text_filters(burst *b, const fti_rowref *r)
{
    static const int text[] = { C_MODEL, C_LOG };
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        const char *v = fti_rowfield(r, col(b, text[i]), &len);
        if (!fti_utf8_valid(v, len))
            return bad(b, r, text[i], "UTF-8 text") < 0 ? -EINVAL : 0;
    }
    if ((b->model[0] && strcmp(fti_rowfield(r, col(b, C_MODEL), NULL), b->model) != 0) ||
        (b->log_type[0] && strcmp(fti_rowfield(r, col(b, C_LOG), NULL), b->log_type) != 0)) {
        b->in.filtered++;
        return 0;
    }
    return 1;
}

static int check_time(burst *b, const fti_rowref *r, int64_t *t)
{
    if (!fti_parse_time(fti_rowfield(r, col(b, C_TIME), NULL), 1000000000, t))
        return bad(b, r, C_TIME, "non-negative seconds") < 0 ? -EINVAL : 0;
    if (b->have_prev && *t < b->t_prev)
        return bad(b, r, C_TIME, "timestamps in order (not earlier than the previous row)")
                   < 0 ? -EINVAL : 0;
    b->have_prev = true;
    b->t_prev = *t;
    return 1;
}

/* Parses a row into out: 1 = a request, 0 = dropped, <0 = error. */
static int parse_row(burst *b, const fti_rowref *r, ft_request *out)
{
    size_t want = b->v2 ? 8 : 6;
    if (r->count != want)
        return fti_bad_row(&b->in, r->line, "expected %zu fields, got %zu", want, r->count);
    int64_t t;
    int rc = check_time(b, r, &t);
    if (rc == 1)
        rc = text_filters(b, r);
    if (rc == 1)
        rc = tokens(b, r, C_REQ, &out->input_tokens);
    if (rc == 1)
        rc = tokens(b, r, C_RESP, &out->output_tokens);
    if (rc != 1)
        return rc;
    out->arrival_ns = t;
    if (b->v2) {
        size_t len;
        const char *s = fti_rowfield(r, C_SESSION, &len);
        out->session = len ? (XXH64(s, len, 0x6275727374ull) | 1) : 0;
    }
    return 1;
}

static int burst_next(void *self, ft_request *out, char **err)
{
    burst *b = self;
    fti_rowref r;
    int rc;
    if (b->max_requests && b->n >= b->max_requests)
        return 0;
    do {
        if ((rc = fti_csv_next(&b->csv, &r)) != 1)
            return rc < 0 ? fti_in_error(&b->in, err) : 0;
        memset(out, 0, sizeof *out);
        if ((rc = parse_row(b, &r, out)) < 0)
            return fti_in_error(&b->in, err);
    } while (rc == 0);
    b->seg = (ft_segment){ fti_content("burstgpt/row", r.line, 0), out->input_tokens };
    out->segs = &b->seg;
    out->nsegs = 1;
    b->n++;
    return 1;
}

static void burst_info(void *self, ft_source_info *out)
{
    fti_in_info(&((burst *)self)->in, out);
}

static void burst_destroy(void *self)
{
    burst *b = self;
    if (!b)
        return;
    fti_csv_free(&b->csv);
    fti_in_close(&b->in);
    free(b);
}

static const ft_source_ops burst_ops = { "burstgpt", burst_next, burst_destroy, burst_info };

int fti_burstgpt_new(fti_in *in, const ft_trace_opts *o, ft_source **out, char **err)
{
    burst *b = calloc(1, sizeof *b);
    if (!b) {
        fti_in_close(in);
        return *err = strdup("burstgpt: out of memory"), -ENOMEM;
    }
    b->in = *in;
    b->zeros = fti_zeros(o->zeros, FT_ZERO_SKIP);
    b->max_requests = o->max_requests;
    snprintf(b->model, sizeof b->model, "%s", o->model);
    snprintf(b->log_type, sizeof b->log_type, "%s", o->log_type);
    int rc = fti_csv_init(&b->csv, &b->in) ? -ENOMEM : read_header(b);
    if (rc < 0) {
        if (!b->in.msg)
            *err = strdup("burstgpt: out of memory");
        else
            fti_in_error(&b->in, err);
        burst_destroy(b);
        return rc;
    }
    *out = ft_source_wrap(&burst_ops, b);
    return *out ? 0 : (*err = strdup("burstgpt: out of memory"), -ENOMEM);
}
