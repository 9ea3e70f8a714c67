/*
 * azure.c: a streaming reader for the Azure LLM inference traces (2023 and 2024).
 *
 * The files (Azure/AzurePublicDataset; Splitwise, ISCA'24) have one row per request:
 *     TIMESTAMP,ContextTokens,GeneratedTokens
 *     2023-11-16 18:15:46.6805900,374,44                  (2023: 7 fractional digits)
 *     2024-05-12 00:00:00.006146+00:00,1452,3             (2024: 6 digits, UTC offset)
 * Workload assumed: from ten thousand rows (2023, one hour) to 27 million (2024, one
 * week), sorted by time. The reader therefore streams: it reads 64 KiB chunks with
 * fread, feeds them to libcsv, and queues the rows that complete; memory is bounded by
 * one chunk, whatever the file's length.
 *
 * Choices, each a deliberate reading of the format:
 *  - The header must be exactly TIMESTAMP,ContextTokens,GeneratedTokens, optionally
 *    preceded by a ROW_INDEX column (the pandas index kept in the 2024 excerpts that
 *    the dataset's notebook prints), whose values are ignored. A UTF-8 byte order
 *    mark before the header is skipped. No other layout is guessed.
 *  - Timestamps are converted to UTC nanoseconds with integer arithmetic (days from
 *    the civil date; never mktime(), which depends on the TZ) from 0 to 9 fractional
 *    digits, minus the "+HH:MM" / "-HH:MM" / "Z" offset when there is one; arrivals are
 *    shifted so the first row is at 0. A row earlier than the one before it is an
 *    error: the published files are sorted, so disorder means a damaged file.
 *  - A count of 0 (ContextTokens or GeneratedTokens) is read as 1, silently: a request
 *    needs at least one prompt token and one output token to be simulated, and the
 *    real files have no zeros (a filter on the data, not a parse error, would be where
 *    to drop such rows). Anything but decimal digits is an error naming the column.
 *  - Each prompt is one segment whose content id is a hash of the line number, so no
 *    two requests share a prefix (the traces record lengths, not contents).
 * Line numbers count '\n' characters (LF and CRLF files; a quoted field cannot hold a
 * newline in these columns anyway): the reader hands libcsv one line at a time so it
 * always knows the line of the row libcsv completes.
 */
#include "ft_workload.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>
#include <xxhash.h>

enum {
    CHUNK = 64 * 1024,
    MAXF = 4,           /* fields kept per row: ROW_INDEX + the three columns */
    FIELD_MAX = 48,     /* characters kept per field (more is an error anyway) */
};

typedef struct row {
    int64_t t_ns;       /* UTC ns since the epoch, not yet shifted */
    uint32_t in, out;
    uint64_t line;
} row;

typedef struct azure {
    char *path;
    FILE *f;
    struct csv_parser csv;
    unsigned char *buf;
    size_t len, pos;            /* bytes in buf, bytes already given to libcsv */
    uint64_t line;              /* 1-based line of the bytes being parsed */
    bool eof;
    /* the row being assembled by the field callback */
    char field[MAXF][FIELD_MAX + 1];
    size_t nf;
    /* layout and ordering state */
    bool header_done, row_index;
    bool have_t0;
    int64_t t0, t_prev;
    /* rows completed and not yet returned: q[qhead..qlen) */
    row *q;
    size_t qhead, qlen, qcap;
    int rc;                     /* sticky error: < 0 once the file is found bad */
    char *msg;
    uint64_t max_requests, n;
    ft_segment seg;
} azure;

static const char *const columns[] = { "TIMESTAMP", "ContextTokens", "GeneratedTokens" };

/* Records the first error; later rows are ignored. Returns rc. */
static int set_error(azure *a, int rc, const char *fmt, ...)
{
    if (a->rc < 0)
        return a->rc;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&a->msg, fmt, ap) < 0)
        a->msg = NULL;
    va_end(ap);
    a->rc = rc;
    return rc;
}

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
    if (!ok || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t s_utc = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    *ns = s_utc * 1000000000 + frac;
    return true;
}

/* A count of tokens: decimal digits only, at most UINT32_MAX; 0 reads as 1. */
static bool parse_count(const char *s, uint32_t *v)
{
    uint64_t x = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        x = 10 * x + (uint64_t)(*s - '0');
        if (x > UINT32_MAX)
            return false;
    }
    *v = x ? (uint32_t)x : 1;
    return true;
}

/* --- rows --- */

static void check_header(azure *a)
{
    const char *expected = "TIMESTAMP,ContextTokens,GeneratedTokens";
    char *f0 = a->field[0];
    if (a->nf >= 1 && memcmp(f0, "\xEF\xBB\xBF", 3) == 0)
        memmove(f0, f0 + 3, strlen(f0 + 3) + 1);
    a->row_index = a->nf == 4 && strcmp(f0, "ROW_INDEX") == 0;
    size_t base = a->row_index;
    bool ok = a->nf == 3 + base;
    for (size_t i = 0; ok && i < 3; i++)
        ok = strcmp(a->field[base + i], columns[i]) == 0;
    if (!ok)
        set_error(a, -EINVAL, "%s:%llu: expected the header '%s' (optionally after ROW_INDEX)",
                  a->path, (unsigned long long)a->line, expected);
    a->header_done = true;
}

static int push_row(azure *a, row r)
{
    if (a->qlen == a->qcap) {
        size_t cap = a->qcap ? 2 * a->qcap : 64;
        row *q = realloc(a->q, cap * sizeof *q);
        if (!q)
            return set_error(a, -ENOMEM, "%s: out of memory", a->path);
        a->q = q;
        a->qcap = cap;
    }
    a->q[a->qlen++] = r;
    return 0;
}

static int bad_count(azure *a, size_t col)
{
    return set_error(a, -EINVAL, "%s:%llu: expected an integer in column %s, got '%s'",
                     a->path, (unsigned long long)a->line, columns[col],
                     a->field[a->row_index + col]);
}

/* Parses the current row's fields into *r; false (with the error set) if one is bad. */
static bool parse_fields(azure *a, row *r)
{
    size_t base = a->row_index;
    if (a->nf != 3 + base) {
        set_error(a, -EINVAL, "%s:%llu: expected %zu fields, got %zu", a->path,
                  (unsigned long long)a->line, 3 + base, a->nf);
        return false;
    }
    if (!parse_timestamp(a->field[base], &r->t_ns)) {
        set_error(a, -EINVAL, "%s:%llu: expected a timestamp 'YYYY-MM-DD HH:MM:SS.fffffff' "
                  "in column TIMESTAMP, got '%s'", a->path, (unsigned long long)a->line,
                  a->field[base]);
        return false;
    }
    if (!parse_count(a->field[base + 1], &r->in))
        return bad_count(a, 1), false;
    if (!parse_count(a->field[base + 2], &r->out))
        return bad_count(a, 2), false;
    return true;
}

static void data_row(azure *a)
{
    row r = { .line = a->line };
    if (!parse_fields(a, &r))
        return;
    if (a->have_t0 && r.t_ns < a->t_prev) {
        set_error(a, -EINVAL, "%s:%llu: expected timestamps in order, but '%s' is earlier "
                  "than the previous row's", a->path, (unsigned long long)a->line,
                  a->field[a->row_index]);
        return;
    }
    if (!a->have_t0)
        a->t0 = r.t_ns;
    a->have_t0 = true;
    a->t_prev = r.t_ns;
    push_row(a, r);
}

/* libcsv callbacks: one field, end of one row. */
static void on_field(void *s, size_t len, void *data)
{
    azure *a = data;
    if (a->rc < 0)
        return;
    if (a->nf < MAXF) {
        char *f = a->field[a->nf];
        size_t n = len < FIELD_MAX ? len : FIELD_MAX;
        memcpy(f, s ? s : "", n);
        f[n] = '\0';
        if (len > FIELD_MAX)                     /* keep a visible sign of truncation */
            memcpy(f + FIELD_MAX - 3, "...", 3);
    }
    a->nf++;
}

static void on_row(int c, void *data)
{
    (void)c;
    azure *a = data;
    if (a->rc >= 0) {
        if (a->header_done)
            data_row(a);
        else
            check_header(a);
    }
    a->nf = 0;
}

/* --- streaming --- */

static void csv_failed(azure *a)
{
    set_error(a, -EINVAL, "%s:%llu: malformed CSV (%s)", a->path,
              (unsigned long long)a->line, csv_strerror(csv_error(&a->csv)));
}

/* At the end of the file: flush a last line without '\n', then check the header. */
static void finish(azure *a)
{
    if (ferror(a->f)) {
        set_error(a, -EIO, "%s: read error after line %llu", a->path,
                  (unsigned long long)a->line);
    } else if (csv_fini(&a->csv, on_field, on_row, a) != 0) {
        csv_failed(a);
    } else if (!a->header_done) {
        set_error(a, -EINVAL, "%s:1: expected the header "
                  "'TIMESTAMP,ContextTokens,GeneratedTokens', got an empty file", a->path);
    }
    a->eof = true;
}

/* Gives libcsv the next line (or the rest of the chunk), reading a chunk when needed. */
static void feed(azure *a)
{
    if (a->pos == a->len) {
        a->len = fread(a->buf, 1, CHUNK, a->f);
        a->pos = 0;
        if (a->len == 0) {
            finish(a);
            return;
        }
    }
    unsigned char *start = a->buf + a->pos;
    unsigned char *nl = memchr(start, '\n', a->len - a->pos);
    size_t n = nl ? (size_t)(nl - start) + 1 : a->len - a->pos;
    if (csv_parse(&a->csv, start, n, on_field, on_row, a) != n)
        csv_failed(a);
    a->pos += n;
    if (nl)
        a->line++;
}

/* Fills the queue until it holds a row, the file ends or an error is found. */
static void refill(azure *a)
{
    if (a->qhead == a->qlen)
        a->qhead = a->qlen = 0;
    while (a->qlen == 0 && !a->eof && a->rc == 0)
        feed(a);
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
    if (a->max_requests && a->n >= a->max_requests)
        return 0;
    refill(a);
    if (a->qhead == a->qlen) {
        if (a->rc < 0 && err)
            *err = a->msg ? strdup(a->msg) : NULL;
        return a->rc < 0 ? a->rc : 0;
    }
    row r = a->q[a->qhead++];
    a->seg.content = row_content(r.line);
    a->seg.len = r.in;
    memset(out, 0, sizeof *out);
    out->arrival_ns = r.t_ns - a->t0;
    out->input_tokens = r.in;
    out->output_tokens = r.out;
    out->segs = &a->seg;
    out->nsegs = 1;
    a->n++;
    return 1;
}

static void azure_destroy(void *self)
{
    azure *a = self;
    if (!a)
        return;
    if (a->f)
        fclose(a->f);
    csv_free(&a->csv);
    free(a->buf);
    free(a->q);
    free(a->msg);
    free(a->path);
    free(a);
}

static const ft_source_ops azure_ops = { "azure", azure_next, azure_destroy };

/* Allocates the reader and opens the file; on failure frees what it made. */
static int azure_alloc(const char *path, azure **out, char **err)
{
    azure *a = calloc(1, sizeof *a);
    if (!a || csv_init(&a->csv, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        free(a);
        *err = strdup("azure: out of memory");
        return -ENOMEM;
    }
    a->line = 1;
    a->path = strdup(path);
    a->buf = malloc(CHUNK);
    a->f = fopen(path, "rb");
    int rc = !a->path || !a->buf ? -ENOMEM : !a->f ? -errno : 0;
    if (rc != 0) {
        if (asprintf(err, "%s: cannot open: %s", path, strerror(-rc)) < 0)
            *err = NULL;
        azure_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

int ft_azure_open(const char *path, uint64_t max_requests, ft_source **out, char **err)
{
    assert(path && out);
    char *ignored = NULL;
    char **e = err ? err : &ignored;
    azure *a;
    *out = NULL;
    int rc = azure_alloc(path, &a, e);
    if (rc != 0)
        goto done;
    a->max_requests = max_requests;
    while (!a->header_done && !a->eof && a->rc == 0)
        feed(a);                          /* a bad header fails here, not at next() */
    if ((rc = a->rc) < 0) {
        *e = a->msg;
        a->msg = NULL;
        azure_destroy(a);
        goto done;
    }
    *out = ft_source_wrap(&azure_ops, a);
    if (!*out) {
        rc = -ENOMEM;
        *e = strdup("azure: out of memory");
    }
done:
    free(ignored);
    return rc;
}
