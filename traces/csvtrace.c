/*
 * csvtrace.c: fleetsim's own CSV trace format, read (streaming) and written.
 *
 * The format is what `fleetsim trace convert` and `fleetsim trace gen` write and what
 * users with their own logs can produce with any tool:
 *     arrival_s,input_tokens,output_tokens,session,prefix_group,prefix_tokens,class,priority
 *     0.512000000,1200,180,7,2,1000,0,0
 * The header names the columns, in any order; arrival_s, input_tokens and
 * output_tokens are required, the others optional:
 *  - arrival_s: seconds from the trace's start (decimals, exact to the ns), not
 *    decreasing; kept as they are (no shift).
 *  - session: a non-negative integer, 0 = none (routers may keep a session's requests
 *    together); class (>= 0) and priority (any int) are copied to the request.
 *  - prefix_group + prefix_tokens (both or neither): the first prefix_tokens of the
 *    prompt are the shared prefix of that group (groups share exactly when equal).
 *  - output_content (hex) and segments ("ID:LEN ID:LEN ..." with hex ids): the exact
 *    prompt description, as written for generated workloads with shared prefixes,
 *    sessions or documents; the lengths must add up to input_tokens. An empty field
 *    falls back to the prefix columns.
 * Without segments, a prompt is (group prefix, the rest) or one segment unique to its
 * line. Token counts of 0 are bad rows unless zeros says otherwise.
 * Workload assumed: up to tens of millions of rows; the reader's cost per row is
 * libcsv's scan plus a few integer parses (no strtod: times are parsed exactly as
 * integers), so it reads well over 2 million rows per second.
 */
#include "ft_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { C_ARRIVAL, C_INPUT, C_OUTPUT, C_SESSION, C_GROUP, C_PREFIX, C_CLASS, C_PRIORITY,
       C_OUTCONTENT, C_SEGMENTS, NCOL };

static const char *const colnames[NCOL] = {
    "arrival_s", "input_tokens", "output_tokens", "session", "prefix_group",
    "prefix_tokens", "class", "priority", "output_content", "segments",
};

typedef struct csvtrace {
    fti_in in;
    fti_csv csv;
    int col[NCOL];              /* field index of each column, -1 = absent */
    size_t ncols;
    ft_zero_policy zeros;
    int64_t t_prev;
    bool have_prev;
    uint64_t max_requests, n;
    ft_segment *segs;
    size_t cap;
} csvtrace;

/* --- header --- */

static int column_of(const char *name)
{
    for (int c = 0; c < NCOL; c++)
        if (strcmp(name, colnames[c]) == 0)
            return c;
    return -1;
}

static int header_error(csvtrace *t, uint64_t line, const char *what, const char *name)
{
    char esc[200];
    return fti_fatal(&t->in, line, -EINVAL, "%s '%s' in the header (known: arrival_s, "
                     "input_tokens, output_tokens, session, prefix_group, prefix_tokens, "
                     "class, priority, output_content, segments)", what,
                     fti_escape(name, strlen(name), esc));
}

static int map_columns(csvtrace *t, const fti_rowref *h)
{
    for (int c = 0; c < NCOL; c++)
        t->col[c] = -1;
    t->ncols = h->count;
    for (size_t i = 0; i < h->count; i++) {
        const char *name = fti_rowfield(h, i, NULL);
        if (i == 0 && strncmp(name, "\xEF\xBB\xBF", 3) == 0)
            name += 3;
        int c = column_of(name);
        if (c < 0)
            return header_error(t, h->line, "unknown column", name);
        if (t->col[c] >= 0)
            return header_error(t, h->line, "duplicate column", name);
        t->col[c] = (int)i;
    }
    for (int c = C_ARRIVAL; c <= C_OUTPUT; c++)
        if (t->col[c] < 0)
            return header_error(t, h->line, "missing column", colnames[c]);
    if ((t->col[C_GROUP] < 0) != (t->col[C_PREFIX] < 0))
        return fti_fatal(&t->in, h->line, -EINVAL, "expected prefix_group and "
                         "prefix_tokens together in the header, or neither");
    return 0;
}

static int read_header(csvtrace *t)
{
    fti_rowref h;
    bool skip = t->in.skip_bad;
    t->in.skip_bad = false;
    int rc = fti_csv_next(&t->csv, &h);
    t->in.skip_bad = skip;
    if (rc == 0)
        return fti_fatal(&t->in, 1, -EINVAL, "expected a header "
                         "'arrival_s,input_tokens,output_tokens,...', got an empty file");
    return rc < 0 ? rc : map_columns(t, &h);
}

/* --- rows --- */

static const char *field(const csvtrace *t, const fti_rowref *r, int c, size_t *len)
{
    if (t->col[c] < 0) {
        if (len)
            *len = 0;
        return "";
    }
    return fti_rowfield(r, (size_t)t->col[c], len);
}

static int bad(csvtrace *t, const fti_rowref *r, int c, const char *what)
{
    size_t len;
    const char *v = field(t, r, c, &len);
    char esc[200];
    return fti_bad_row(&t->in, r->line, "expected %s in column %s, got '%s'", what,
                       colnames[c], fti_escape(v, len, esc));
}

#define BAD(t, r, c, what) (bad(t, r, c, what) < 0 ? -EINVAL : 0)

static int tokens(csvtrace *t, const fti_rowref *r, int c, uint32_t *v)
{
    if (!fti_parse_u32(field(t, r, c, NULL), v) || *v > UINT32_MAX / 2)
        return BAD(t, r, c, "a token count (a non-negative integer)");
    if (*v > 0)
        return 1;
    if (t->zeros == FT_ZERO_ONE) {
        *v = 1;
        return 1;
    }
    if (t->zeros == FT_ZERO_SKIP) {
        t->in.filtered++;
        return 0;
    }
    return BAD(t, r, c, "a positive token count");
}

static int optional_ints(csvtrace *t, const fti_rowref *r, ft_request *out)
{
    const char *s;
    if (*(s = field(t, r, C_SESSION, NULL)) && !fti_parse_u64(s, &out->session))
        return BAD(t, r, C_SESSION, "a non-negative integer");
    if (*(s = field(t, r, C_CLASS, NULL)) && (!fti_parse_int(s, &out->cls) || out->cls < 0))
        return BAD(t, r, C_CLASS, "a non-negative integer");
    if (*(s = field(t, r, C_PRIORITY, NULL)) && !fti_parse_int(s, &out->priority))
        return BAD(t, r, C_PRIORITY, "an integer");
    return 1;
}

static bool parse_hex(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++) {
        int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0'
              : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
              : s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10 : -1;
        if (d < 0)
            return false;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return true;
}

static int reserve(csvtrace *t, size_t n)
{
    if (n <= t->cap)
        return 0;
    size_t cap = t->cap ? 2 * t->cap : 8;
    while (cap < n)
        cap *= 2;
    ft_segment *s = realloc(t->segs, cap * sizeof *s);
    if (!s)
        return fti_fatal(&t->in, 0, -ENOMEM, "out of memory");
    t->segs = s;
    t->cap = cap;
    return 0;
}

/* "ID:LEN ID:LEN ..." -> t->segs; returns the count, or 0 when malformed. */
static size_t parse_segments(csvtrace *t, const char *s, uint64_t *total)
{
    size_t n = 0;
    *total = 0;
    while (*s) {
        const char *colon = strchr(s, ':');
        char *end;
        if (!colon || reserve(t, n + 1))
            return 0;
        uint64_t id;
        if (!parse_hex(s, (size_t)(colon - s), &id) || colon[1] < '0' || colon[1] > '9')
            return 0;
        unsigned long long len = strtoull(colon + 1, &end, 10);
        if ((*end != ' ' && *end != '\0') || len > UINT32_MAX / 2)
            return 0;
        t->segs[n++] = (ft_segment){ id, (uint32_t)len };
        *total += len;
        s = *end ? end + 1 : end;
    }
    return n;
}

static int explicit_segments(csvtrace *t, const fti_rowref *r, ft_request *out)
{
    uint64_t total;
    size_t n = parse_segments(t, field(t, r, C_SEGMENTS, NULL), &total);
    if (t->in.rc < 0)
        return t->in.rc;
    if (n == 0)
        return BAD(t, r, C_SEGMENTS, "segments 'HEXID:LEN HEXID:LEN ...'");
    if (total != out->input_tokens)
        return BAD(t, r, C_SEGMENTS, "segment lengths adding up to input_tokens");
    out->segs = t->segs;
    out->nsegs = (uint32_t)n;
    return 1;
}

static int prompt(csvtrace *t, const fti_rowref *r, ft_request *out)
{
    size_t len;
    const char *s = field(t, r, C_OUTCONTENT, &len);
    if (len && !parse_hex(s, len, &out->output_content))
        return BAD(t, r, C_OUTCONTENT, "a hexadecimal content id");
    if (*field(t, r, C_SEGMENTS, NULL))
        return explicit_segments(t, r, out);
    uint64_t group = 0;
    uint32_t pre = 0;
    if (t->col[C_GROUP] >= 0 && *field(t, r, C_GROUP, NULL)) {
        if (!fti_parse_u64(field(t, r, C_GROUP, NULL), &group))
            return BAD(t, r, C_GROUP, "a non-negative integer");
        if (!fti_parse_u32(field(t, r, C_PREFIX, NULL), &pre) || pre > out->input_tokens)
            return BAD(t, r, C_PREFIX, "a token count no larger than input_tokens");
    }
    uint32_t n = 0;
    if (pre > 0)
        t->segs[n++] = (ft_segment){ fti_content("csv/prefix", group, 0), pre };
    if (out->input_tokens > pre)
        t->segs[n++] = (ft_segment){ fti_content("csv/row", r->line, 0),
                                     out->input_tokens - pre };
    out->segs = t->segs;
    out->nsegs = n;
    return 1;
}

static int arrival(csvtrace *t, const fti_rowref *r, int64_t *ns)
{
    if (!fti_parse_time(field(t, r, C_ARRIVAL, NULL), 1000000000, ns))
        return BAD(t, r, C_ARRIVAL, "non-negative seconds");
    if (t->have_prev && *ns < t->t_prev)
        return BAD(t, r, C_ARRIVAL, "arrivals in order (not earlier than the previous row)");
    return 1;
}

/* 1 = *out is a request, 0 = row dropped, <0 = error. */
static int parse_row(csvtrace *t, const fti_rowref *r, ft_request *out)
{
    if (r->count != t->ncols)
        return fti_bad_row(&t->in, r->line, "expected %zu fields, got %zu", t->ncols, r->count);
    int64_t ns;
    int rc = arrival(t, r, &ns);
    if (rc == 1)
        rc = tokens(t, r, C_INPUT, &out->input_tokens);
    if (rc == 1)
        rc = tokens(t, r, C_OUTPUT, &out->output_tokens);
    if (rc == 1)
        rc = optional_ints(t, r, out);
    if (rc == 1)
        rc = prompt(t, r, out);
    if (rc != 1)
        return rc;
    out->arrival_ns = t->t_prev = ns;
    t->have_prev = true;
    return 1;
}

static int csvtrace_next(void *self, ft_request *out, char **err)
{
    csvtrace *t = self;
    fti_rowref r;
    int rc;
    if (t->max_requests && t->n >= t->max_requests)
        return 0;
    do {
        if ((rc = fti_csv_next(&t->csv, &r)) != 1)
            return rc < 0 ? fti_in_error(&t->in, err) : 0;
        memset(out, 0, sizeof *out);
        if ((rc = parse_row(t, &r, out)) < 0)
            return fti_in_error(&t->in, err);
    } while (rc == 0);
    t->n++;
    return 1;
}

static void csvtrace_info(void *self, ft_source_info *out)
{
    csvtrace *t = self;
    fti_in_info(&t->in, out);
    out->shares_prefixes = t->col[C_GROUP] >= 0 || t->col[C_SEGMENTS] >= 0;
}

static void csvtrace_destroy(void *self)
{
    csvtrace *t = self;
    if (!t)
        return;
    fti_csv_free(&t->csv);
    fti_in_close(&t->in);
    free(t->segs);
    free(t);
}

static const ft_source_ops csvtrace_ops = { "csv", csvtrace_next, csvtrace_destroy,
                                            csvtrace_info };

int fti_csvtrace_new(fti_in *in, const ft_trace_opts *o, ft_source **out, char **err)
{
    csvtrace *t = calloc(1, sizeof *t);
    if (!t) {
        fti_in_close(in);
        return *err = strdup("csv: out of memory"), -ENOMEM;
    }
    t->in = *in;
    t->zeros = fti_zeros(o->zeros, FT_ZERO_ERROR);
    t->max_requests = o->max_requests;
    int rc = fti_csv_init(&t->csv, &t->in) || reserve(t, 2) ? -ENOMEM : read_header(t);
    if (rc < 0) {
        if (!t->in.msg)
            *err = strdup("csv: out of memory");
        else
            fti_in_error(&t->in, err);
        csvtrace_destroy(t);
        return rc;
    }
    *out = ft_source_wrap(&csvtrace_ops, t);
    return *out ? 0 : (*err = strdup("csv: out of memory"), -ENOMEM);
}

/* --- writing --- */

struct ft_csv_writer {
    FILE *f;
    bool segments;
};

ft_csv_writer *ft_csv_writer_new(FILE *f, bool segments)
{
    ft_csv_writer *w = malloc(sizeof *w);
    if (!w)
        return NULL;
    w->f = f;
    w->segments = segments;
    fputs("arrival_s,input_tokens,output_tokens,session,class,priority", f);
    fputs(segments ? ",output_content,segments\n" : "\n", f);
    return w;
}

int ft_csv_write(ft_csv_writer *w, const ft_request *r)
{
    fprintf(w->f, "%" PRId64 ".%09" PRId64 ",%" PRIu32 ",%" PRIu32 ",%" PRIu64 ",%d,%d",
            r->arrival_ns / 1000000000, r->arrival_ns % 1000000000, r->input_tokens,
            r->output_tokens, r->session, r->cls, r->priority);
    if (w->segments) {
        fprintf(w->f, ",%" PRIx64 ",", r->output_content);
        for (uint32_t i = 0; i < r->nsegs; i++)
            fprintf(w->f, "%s%" PRIx64 ":%" PRIu32, i ? " " : "", r->segs[i].content,
                    r->segs[i].len);
    }
    putc('\n', w->f);
    return ferror(w->f) ? -EIO : 0;
}

void ft_csv_writer_free(ft_csv_writer *w)
{
    free(w);
}
