/*
 * azure.c: a streaming reader for the Azure LLM inference traces (2023 and 2024).
 *
 * The files (Azure/AzurePublicDataset; Splitwise, ISCA'24) have one row per request:
 *     TIMESTAMP,ContextTokens,GeneratedTokens
 *     2023-11-16 18:15:46.6805900,374,44                  (2023: 7 fractional digits)
 *     2024-05-12 00:00:00.006146+00:00,1452,3             (2024: 6 digits, UTC offset)
 * Workload assumed: from ten thousand rows (2023, one hour) to 27 million (2024, one
 * week), sorted by time. The reader streams through reader.c (64 KiB chunks, libcsv),
 * so memory is bounded by one chunk and one row, whatever the file's length.
 *
 * Choices, each a deliberate reading of the format:
 *  - The header must be exactly TIMESTAMP,ContextTokens,GeneratedTokens, optionally
 *    preceded by a ROW_INDEX column (the pandas index kept in the 2024 excerpts that
 *    the dataset's notebook prints), whose values are ignored. A UTF-8 byte order
 *    mark before the header is skipped. No other layout is guessed.
 *  - Timestamps are converted to UTC nanoseconds with integer arithmetic (days from
 *    the civil date; never mktime(), which depends on the TZ) from 0 to 9 fractional
 *    digits, minus the "+HH:MM" / "-HH:MM" / "Z" offset when there is one; arrivals are
 *    shifted so the first row is at 0. A row earlier than the one before it is a bad
 *    row: the published files are sorted, so disorder means a damaged file.
 *  - A count of 0 (ContextTokens or GeneratedTokens) is read as 1 by default: a
 *    request needs at least one prompt token and one output token to be simulated,
 *    and the real files have no zeros (zeros: skip or error choose otherwise).
 *    Anything but decimal digits is a bad row naming the column.
 *  - Each prompt is one segment whose content id is a hash of the line number, so no
 *    two requests share a prefix (the traces record lengths, not contents).
 */
#include "ft_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

typedef struct azure {
    fti_in in;
    fti_csv csv;
    bool row_index;             /* a leading ROW_INDEX column */
    bool have_t0;
    int64_t t0, t_prev;
    ft_zero_policy zeros;
    uint64_t max_requests, n;
    ft_segment seg;
} azure;

static const char *const columns[] = { "TIMESTAMP", "ContextTokens", "GeneratedTokens" };

/* --- field values --- */

/* Reads exactly n decimal digits at *p into *v; advances *p. */
static bool digits(const char **p, int n, int64_t *v)
{
    int64_t x = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return false;
        x = 10 * x + ((*p)[i] - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

/* Optional ".f{0,9}": nanoseconds. */
static bool fraction(const char **p, int64_t *ns)
{
    *ns = 0;
    if (!expect(p, '.'))
        return true;
    int n = 0;
    while (n < 9 && (*p)[0] >= '0' && (*p)[0] <= '9') {
        *ns = 10 * *ns + (*(*p)++ - '0');
        n++;
    }
    for (; n < 9; n++)
        *ns *= 10;
    return !((*p)[0] >= '0' && (*p)[0] <= '9');   /* no more than 9 digits */
}

/* Optional "Z" or "+HH:MM" / "-HH:MM": seconds east of UTC. */
static bool utc_offset(const char **p, int64_t *sec)
{
    int64_t hh, mm;
    *sec = 0;
    if (**p == 'Z') {
        (*p)++;
        return true;
    }
    if (**p != '+' && **p != '-')
        return true;
    int sign = *(*p)++ == '-' ? -1 : 1;
    if (!digits(p, 2, &hh) || !expect(p, ':') || !digits(p, 2, &mm) || hh > 23 || mm > 59)
        return false;
    *sec = sign * (hh * 3600 + mm * 60);
    return true;
}

/* "YYYY-MM-DD HH:MM:SS[.f{1,9}][Z|+HH:MM|-HH:MM]" -> UTC ns since the epoch. */
static bool parse_timestamp(const char *s, int64_t *ns)
{
    int64_t y, mo, d, h, mi, sec, frac, off;
    const char *p = s;
    bool ok = digits(&p, 4, &y) && expect(&p, '-') && digits(&p, 2, &mo) &&
              expect(&p, '-') && digits(&p, 2, &d) && (expect(&p, ' ') || expect(&p, 'T')) &&
              digits(&p, 2, &h) && expect(&p, ':') && digits(&p, 2, &mi) &&
              expect(&p, ':') && digits(&p, 2, &sec) && fraction(&p, &frac) &&
              utc_offset(&p, &off) && *p == '\0';
    /* years 1970..2200 keep ns since the epoch, and differences, inside int64 */
    if (!ok || y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 59)
        return false;
    int64_t s_utc = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *ns = s_utc * 1000000000 + frac;
    return true;
}

/* A count of tokens: decimal digits only, at most UINT32_MAX. */
static bool parse_count(const char *s, uint32_t *v)
{
    return fti_parse_u32(s, v);
}

/* --- rows --- */

static int check_header(azure *a, const fti_rowref *h)
{
    size_t len;
    const char *f0 = fti_rowfield(h, 0, &len);
    if (len >= 3 && memcmp(f0, "\xEF\xBB\xBF", 3) == 0)
        f0 += 3;
    a->row_index = h->count == 4 && strcmp(f0, "ROW_INDEX") == 0;
    size_t base = a->row_index;
    bool ok = h->count == 3 + base;
    for (size_t i = 0; ok && i < 3; i++) {
        const char *f = base + i == 0 ? f0 : fti_rowfield(h, base + i, NULL);
        ok = strcmp(f, columns[i]) == 0;
    }
    if (!ok)
        return fti_fatal(&a->in, h->line, -EINVAL, "expected the header '%s' (optionally "
                         "after ROW_INDEX)", "TIMESTAMP,ContextTokens,GeneratedTokens");
    return 0;
}

typedef struct row {
    int64_t t_ns;
    uint32_t in, out;
} row;

static int bad_field(azure *a, const fti_rowref *r, size_t col, const char *what)
{
    size_t len;
    const char *v = fti_rowfield(r, a->row_index + col, &len);
    char esc[200];
    return fti_bad_row(&a->in, r->line, "expected %s in column %s, got '%s'", what,
                       columns[col], fti_escape(v, len, esc));
}

/* A token count under the zero policy: 1 = use it, 0 = drop the row, <0 = error. */
static int count(azure *a, const fti_rowref *r, size_t col, uint32_t *v)
{
    if (!parse_count(fti_rowfield(r, a->row_index + col, NULL), v))
        return bad_field(a, r, col, "an integer") < 0 ? -EINVAL : 0;
    if (*v > 0)
        return 1;
    switch (a->zeros) {
    case FT_ZERO_SKIP:
        a->in.filtered++;
        return 0;
    case FT_ZERO_ERROR:
        return bad_field(a, r, col, "a positive integer") < 0 ? -EINVAL : 0;
    default:
        *v = 1;
        return 1;
    }
}

/* Parses one data row: 1 = *out filled, 0 = row dropped, <0 = error. */
static int parse_row(azure *a, const fti_rowref *r, row *out)
{
    size_t base = a->row_index;
    if (r->count != 3 + base)
        return fti_bad_row(&a->in, r->line, "expected %zu fields, got %zu", 3 + base, r->count);
    if (!parse_timestamp(fti_rowfield(r, base, NULL), &out->t_ns))
        return bad_field(a, r, 0, "a timestamp 'YYYY-MM-DD HH:MM:SS.fffffff'");
    int rc = count(a, r, 1, &out->in);
    if (rc == 1)
        rc = count(a, r, 2, &out->out);
    if (rc != 1)
        return rc;
    if (a->have_t0 && out->t_ns < a->t_prev) {
        char esc[200];
        size_t len;
        const char *v = fti_rowfield(r, base, &len);
        return fti_bad_row(&a->in, r->line, "expected timestamps in order, but '%s' is "
                           "earlier than the previous row's", fti_escape(v, len, esc));
    }
    if (!a->have_t0)
        a->t0 = out->t_ns;
    a->have_t0 = true;
    a->t_prev = out->t_ns;
    return 1;
}

/* A content id per line: XXH64 of the line number (little-endian) seeded with a salt. */
static uint64_t row_content(uint64_t line)
{
    static const char salt[] = "fleetsim/azure/row";
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(line >> (8 * i));
    return XXH64(b, sizeof b, XXH64(salt, sizeof salt - 1, 0));
}

static int azure_next(void *self, ft_request *out, char **err)
{
    azure *a = self;
    fti_rowref r;
    row x;
    int rc;
    if (a->max_requests && a->n >= a->max_requests)
        return 0;
    do {
        if ((rc = fti_csv_next(&a->csv, &r)) != 1)
            return rc < 0 ? fti_in_error(&a->in, err) : 0;
        rc = parse_row(a, &r, &x);
        if (rc < 0)
            return fti_in_error(&a->in, err);
    } while (rc == 0);
    a->seg.content = row_content(r.line);
    a->seg.len = x.in;
    memset(out, 0, sizeof *out);
    out->arrival_ns = x.t_ns - a->t0;
    out->input_tokens = x.in;
    out->output_tokens = x.out;
    out->segs = &a->seg;
    out->nsegs = 1;
    a->n++;
    return 1;
}

static void azure_info(void *self, ft_source_info *out)
{
    azure *a = self;
    fti_in_info(&a->in, out);
}

static void azure_destroy(void *self)
{
    azure *a = self;
    if (!a)
        return;
    fti_csv_free(&a->csv);
    fti_in_close(&a->in);
    free(a);
}

static const ft_source_ops azure_ops = { "azure", azure_next, azure_destroy, azure_info };

/* Reads the header row; a missing or wrong header fails the open. */
static int read_header(azure *a)
{
    fti_rowref h;
    a->in.skip_bad = false;                   /* a bad first line is never skipped */
    int rc = fti_csv_next(&a->csv, &h);
    if (rc == 0)
        return fti_fatal(&a->in, 1, -EINVAL, "expected the header "
                         "'TIMESTAMP,ContextTokens,GeneratedTokens', got an empty file");
    return rc < 0 ? rc : check_header(a, &h);
}

int fti_azure_new(fti_in *in, const ft_trace_opts *o, ft_source **out, char **err)
{
    azure *a = calloc(1, sizeof *a);
    if (!a) {
        fti_in_close(in);
        return *err = strdup("azure: out of memory"), -ENOMEM;
    }
    a->in = *in;
    bool skip = a->in.skip_bad;
    a->zeros = fti_zeros(o->zeros, FT_ZERO_ONE);
    a->max_requests = o->max_requests;
    int rc = fti_csv_init(&a->csv, &a->in) ? -ENOMEM : read_header(a);
    a->in.skip_bad = skip;
    if (rc < 0) {
        if (rc == -ENOMEM && !a->in.msg)
            *err = strdup("azure: out of memory");
        else
            fti_in_error(&a->in, err);
        azure_destroy(a);
        return rc;
    }
    *out = ft_source_wrap(&azure_ops, a);
    return *out ? 0 : (*err = strdup("azure: out of memory"), -ENOMEM);
}

int ft_azure_open(const char *path, uint64_t max_requests, ft_source **out, char **err)
{
    ft_trace_opts o = { .format = FT_FMT_AZURE, .max_requests = max_requests };
    if (strlen(path) >= sizeof o.path) {
        *out = NULL;
        if (err)
            *err = strdup("azure: path too long");
        return -ENAMETOOLONG;
    }
    strcpy(o.path, path);
    return ft_trace_open(&o, out, err);
}
