/*
 * reader.c: the machinery every trace reader shares: chunked input with line numbers,
 * CSV rows through libcsv, whole JSON lines, bad-row handling and value parsing.
 *
 * Workload assumed: files of up to tens of millions of short rows (27 million for the
 * Azure 2024 week), read once, front to back, possibly from a pipe. So input is read
 * in 64 KiB chunks and never seeks (sniffing looks at the first chunk only); a CSV
 * line is handed to libcsv as soon as its '\n' is found, so the line number of every
 * row libcsv completes is known without a second scan; rows are queued in one growing
 * buffer that is emptied as they are consumed, so memory is bounded by the longest
 * line (capped), not by the file.
 *
 * Rejected: mmap (no pipes, and SIGBUS when a file shrinks under us); getline() per
 * row (one more copy, and no cap on a 100 MB line before it is in memory).
 */
#include "ft_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* --- the byte stream --- */

int fti_in_init(fti_in *in, FILE *f, const char *name, bool skip_bad, size_t max_line,
                char **err)
{
    memset(in, 0, sizeof *in);
    in->f = f;
    in->line = 1;
    in->skip_bad = skip_bad;
    in->max_line = max_line;
    in->name = strdup(name);
    in->buf = malloc(FTI_CHUNK);
    if (!in->name || !in->buf) {
        fti_in_close(in);
        if (err && asprintf(err, "%s: out of memory", name) < 0)
            *err = NULL;
        return -ENOMEM;
    }
    return 0;
}

void fti_in_close(fti_in *in)
{
    if (in->f && in->f != stdin)
        fclose(in->f);
    free(in->buf);
    free(in->name);
    free(in->msg);
    free(in->first_skipped);
    memset(in, 0, sizeof *in);
}

static bool fill(fti_in *in)
{
    if (in->pos < in->len)
        return true;
    if (in->eof)
        return false;
    in->len = fread(in->buf, 1, FTI_CHUNK, in->f);
    in->pos = 0;
    if (in->len == 0) {
        in->eof = true;
        if (ferror(in->f))
            fti_fatal(in, 0, -EIO, "read error after line %llu", (unsigned long long)in->line);
        return false;
    }
    return true;
}

const unsigned char *fti_in_peek(fti_in *in, size_t *n)
{
    fill(in);
    *n = in->len - in->pos;
    return in->buf + in->pos;
}

int fti_in_piece(fti_in *in, const unsigned char **p, size_t *n, bool *eol)
{
    if (in->line_bytes == SIZE_MAX) {   /* the previous piece ended a line */
        in->line++;
        in->line_bytes = 0;
    }
    if (!fill(in))
        return in->rc < 0 ? in->rc : 0;
    unsigned char *start = in->buf + in->pos;
    unsigned char *nl = memchr(start, '\n', in->len - in->pos);
    *n = nl ? (size_t)(nl - start) + 1 : in->len - in->pos;
    *p = start;
    *eol = nl != NULL;
    in->pos += *n;
    in->line_bytes = *eol ? SIZE_MAX : in->line_bytes + *n;
    return 1;
}

void fti_in_skip_line(fti_in *in)
{
    const unsigned char *p;
    size_t n;
    bool eol = false;
    while (!eol && fti_in_piece(in, &p, &n, &eol) == 1)
        ;
}

/* --- errors --- */

static char *vformat(fti_in *in, uint64_t line, const char *fmt, va_list ap)
{
    char *body = NULL, *msg = NULL;
    if (vasprintf(&body, fmt, ap) < 0)
        return NULL;
    int rc = line ? asprintf(&msg, "%s:%llu: %s", in->name, (unsigned long long)line, body)
                  : asprintf(&msg, "%s: %s", in->name, body);
    free(body);
    return rc < 0 ? NULL : msg;
}

int fti_fatal(fti_in *in, uint64_t line, int rc, const char *fmt, ...)
{
    if (in->rc < 0)
        return in->rc;
    va_list ap;
    va_start(ap, fmt);
    in->msg = vformat(in, line, fmt, ap);
    va_end(ap);
    in->rc = rc;
    return rc;
}

int fti_bad_row(fti_in *in, uint64_t line, const char *fmt, ...)
{
    if (in->rc < 0)
        return in->rc;
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(in, line, fmt, ap);
    va_end(ap);
    if (!in->skip_bad) {
        in->msg = msg;
        in->rc = -EINVAL;
        return -EINVAL;
    }
    in->skipped++;
    if (!in->first_skipped)
        in->first_skipped = msg;
    else
        free(msg);
    return 0;
}

void fti_in_info(const fti_in *in, ft_source_info *info)
{
    info->skipped = in->skipped;
    info->filtered = in->filtered;
    info->first_skipped = in->first_skipped;
}

int fti_in_error(const fti_in *in, char **err)
{
    if (in->rc < 0 && err)
        *err = in->msg ? strdup(in->msg) : NULL;
    return in->rc;
}

/* --- CSV rows --- */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

static void on_field(void *s, size_t len, void *data)
{
    fti_csv *c = data;
    if (c->in->rc < 0)
        return;
    if (grow((void **)&c->text, &c->tcap, c->tlen + len + 1, 1) ||
        grow((void **)&c->f, &c->fcap, c->nf + 1, sizeof *c->f)) {
        fti_fatal(c->in, 0, -ENOMEM, "out of memory");
        return;
    }
    if (len)
        memcpy(c->text + c->tlen, s, len);
    c->text[c->tlen + len] = '\0';
    c->f[c->nf++] = (fti_field){ c->tlen, len };
    c->tlen += len + 1;
}

static void on_row(int term, void *data)
{
    (void)term;
    fti_csv *c = data;
    if (c->in->rc < 0)
        return;
    if (grow((void **)&c->rows, &c->rcap, c->nrows + 1, sizeof *c->rows)) {
        fti_fatal(c->in, 0, -ENOMEM, "out of memory");
        return;
    }
    c->rows[c->nrows++] = (struct fti_row){ c->row_start, c->nf - c->row_start, c->in->line };
    c->row_start = c->nf;
    c->at_row_start = true;
}

static int parser_init(fti_csv *c)
{
    if (csv_init(&c->p, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return -ENOMEM;
    /* libcsv grows a field's buffer by this much at a time: its default (128 bytes)
       makes a 1 MiB field cost 8,000 reallocations and quadratic copying */
    csv_set_blk_size(&c->p, 64 * 1024);
    c->p_live = true;
    return 0;
}

int fti_csv_init(fti_csv *c, fti_in *in)
{
    memset(c, 0, sizeof *c);
    c->in = in;
    c->at_row_start = true;
    return parser_init(c);
}

void fti_csv_free(fti_csv *c)
{
    if (c->p_live)
        csv_free(&c->p);
    free(c->text);
    free(c->f);
    free(c->rows);
    memset(c, 0, sizeof *c);
}

/* Drops the partial row and restarts libcsv after a bad line (skip_bad_rows). */
static int restart_after_bad_line(fti_csv *c, bool eol)
{
    csv_free(&c->p);
    c->p_live = false;
    c->nf = c->row_start;
    c->tlen = c->row_start ? c->f[c->row_start - 1].off + c->f[c->row_start - 1].len + 1 : 0;
    if (!eol)
        fti_in_skip_line(c->in);
    c->at_row_start = true;
    if (parser_init(c) != 0)
        return fti_fatal(c->in, 0, -ENOMEM, "out of memory");
    return 0;
}

static int csv_finish(fti_csv *c)
{
    c->done = true;
    if (csv_fini(&c->p, on_field, on_row, c) == 0)
        return 0;
    return fti_bad_row(c->in, c->at_row_start ? c->in->line : c->row_line,
                       "malformed CSV at the end of the file (%s)",
                       csv_strerror(csv_error(&c->p)));
}

/* Feeds one piece; a bad line is reported and (when skipping) parsing restarts. */
static int feed(fti_csv *c)
{
    const unsigned char *p;
    size_t n;
    bool eol;
    int rc = fti_in_piece(c->in, &p, &n, &eol);
    if (rc <= 0)
        return rc < 0 ? rc : csv_finish(c);
    uint64_t line = c->in->line;
    size_t line_bytes = eol ? 0 : c->in->line_bytes;
    if (c->at_row_start && !(n == 1 && eol)) {
        c->at_row_start = false;
        c->row_line = line;
    }
    if (line_bytes > c->in->max_line) {
        rc = fti_bad_row(c->in, line, "expected a line of at most %zu bytes", c->in->max_line);
        return rc < 0 ? rc : restart_after_bad_line(c, eol);
    }
    if (csv_parse(&c->p, p, n, on_field, on_row, c) != n) {
        rc = fti_bad_row(c->in, line, "malformed CSV (%s)", csv_strerror(csv_error(&c->p)));
        return rc < 0 ? rc : restart_after_bad_line(c, eol);
    }
    return c->in->rc < 0 ? c->in->rc : 0;
}

int fti_csv_next(fti_csv *c, fti_rowref *row)
{
    if (c->rhead == c->nrows && c->rhead > 0) {     /* all consumed: reuse the buffers */
        size_t keep = c->nf - c->row_start, tstart = keep ? c->f[c->row_start].off : c->tlen;
        memmove(c->f, c->f + c->row_start, keep * sizeof *c->f);
        for (size_t i = 0; i < keep; i++)
            c->f[i].off -= tstart;
        memmove(c->text, c->text + tstart, c->tlen - tstart);
        c->tlen -= tstart;
        c->nf = keep;
        c->row_start = 0;
        c->nrows = c->rhead = 0;
    }
    while (c->rhead == c->nrows && !c->done && c->in->rc == 0)
        if (feed(c) < 0)
            break;
    if (c->in->rc < 0)
        return c->in->rc;
    if (c->rhead == c->nrows)
        return 0;
    struct fti_row *r = &c->rows[c->rhead++];
    *row = (fti_rowref){ c, r->first, r->count, r->line };
    return 1;
}

const char *fti_rowfield(const fti_rowref *r, size_t i, size_t *len)
{
    assert(i < r->count);
    const fti_field *f = &r->c->f[r->first + i];
    if (len)
        *len = f->len;
    return r->c->text + f->off;
}

/* --- whole lines --- */

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* Appends a piece to the line buffer; false when the line gets too long or no memory. */
static int append(fti_lines *l, const unsigned char *p, size_t n)
{
    if (l->len + n > l->in->max_line)
        return 1;
    if (grow((void **)&l->buf, &l->cap, l->len + n + 1, 1))
        return fti_fatal(l->in, 0, -ENOMEM, "out of memory");
    memcpy(l->buf + l->len, p, n);
    l->len += n;
    return 0;
}

/* Reads one raw line into *p and *n (zero-copy when it lies in one chunk). */
static int raw_line(fti_lines *l, const char **p, size_t *n, uint64_t *line)
{
    const unsigned char *s;
    size_t k;
    bool eol;
    l->len = 0;
    int rc = fti_in_piece(l->in, &s, &k, &eol);
    if (rc <= 0)
        return rc;
    *line = l->in->line;
    if (eol) {
        *p = (const char *)s;
        *n = k - 1;
        return 1;
    }
    bool too_long = false;
    do {
        rc = too_long ? 0 : append(l, s, k);
        if (rc < 0)
            return rc;
        too_long = too_long || rc > 0;
    } while (!eol && (rc = fti_in_piece(l->in, &s, &k, &eol)) == 1);
    if (rc < 0)
        return rc;
    if (too_long)
        return 2;
    *p = l->buf;
    *n = l->len - (eol ? 1 : 0);
    return 1;
}

int fti_lines_next(fti_lines *l, const char **p, size_t *n, uint64_t *line)
{
    for (;;) {
        int rc = raw_line(l, p, n, line);
        if (rc == 2) {
            rc = fti_bad_row(l->in, *line, "expected a line of at most %zu bytes",
                             l->in->max_line);
            if (rc < 0)
                return rc;
            continue;
        }
        if (rc <= 0)
            return rc;
        if (*n && (*p)[*n - 1] == '\r')
            (*n)--;
        if (!blank(*p, *n))
            return 1;
    }
}

void fti_lines_free(fti_lines *l)
{
    free(l->buf);
    memset(l, 0, sizeof *l);
}

/* --- values --- */

bool fti_parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = 10 * x + d;
    }
    *v = x;
    return true;
}

bool fti_parse_u32(const char *s, uint32_t *v)
{
    uint64_t x;
    if (!fti_parse_u64(s, &x) || x > UINT32_MAX)
        return false;
    *v = (uint32_t)x;
    return true;
}

bool fti_parse_int(const char *s, int *v)
{
    bool neg = *s == '-';
    uint64_t x;
    if (!fti_parse_u64(s + (neg || *s == '+'), &x) || x > (uint64_t)INT32_MAX + neg)
        return false;
    *v = neg ? (int)-(int64_t)x : (int)x;
    return true;
}

bool fti_parse_time(const char *s, int64_t unit_ns, int64_t *ns)
{
    uint64_t whole = 0, frac = 0, scale = (uint64_t)unit_ns;
    const char *p = s;
    int nd = 0;
    for (; *p >= '0' && *p <= '9'; p++, nd++) {
        if (whole > (uint64_t)INT64_MAX / 10 / (uint64_t)unit_ns)
            return false;
        whole = 10 * whole + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++, nd++) {
            if (scale >= 10) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            }
        }
    }
    if (*p != '\0' || nd == 0)
        return false;
    uint64_t t = whole * (uint64_t)unit_ns + frac;
    if (t > (uint64_t)INT64_MAX)
        return false;
    *ns = (int64_t)t;
    return true;
}

char *fti_escape(const char *s, size_t len, char out[200])
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < 40; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, 5, "\\x%02X", ch);
    }
    if (len > 40)
        o += (size_t)snprintf(out + o, 4, "...");
    out[o] = '\0';
    return out;
}

bool fti_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                 : (c & 0xF8) == 0xF0 ? 3 : 4;
        if (n == 4 || i + n >= len)
            return false;
        uint32_t cp = n == 0 ? c : c & (0x3Fu >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        static const uint32_t min_cp[] = { 0, 0x80, 0x800, 0x10000 };
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

uint64_t fti_content(const char *tag, uint64_t a, uint64_t b)
{
    unsigned char buf[32] = { 0 };
    size_t n = strlen(tag);
    memcpy(buf, tag, n < 16 ? n : 16);
    for (int i = 0; i < 8; i++) {
        buf[16 + i] = (unsigned char)(a >> (8 * i));
        buf[24 + i] = (unsigned char)(b >> (8 * i));
    }
    uint64_t h = XXH64(buf, sizeof buf, 0);
    return h ? h : 1;
}
