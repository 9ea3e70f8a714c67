/*
 * ft_internal.h: what the trace readers of libfleettraces share (not a public API;
 * internal prefix fti_).
 *
 * A reader is a byte stream read in 64 KiB chunks (fti_in), cut into lines so that
 * every row knows its line number; CSV formats hand the lines to libcsv (fti_csv) and
 * get rows of fields back, JSON lines come whole (fti_line). Bad rows go through one
 * place (fti_bad_row) that either records a sticky error or, with skip_bad_rows,
 * counts the row and keeps the first message. Workload assumed: files of up to tens of
 * millions of rows of a few dozen bytes (CSV) or a few KiB (JSON), read once in order.
 */
#ifndef FT_INTERNAL_H
#define FT_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <csv.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "ft_workload.h"

enum {
    FTI_CHUNK = 64 * 1024,
    FTI_MAX_CSV_LINE = 1 << 20,     /* 1 MiB: far above any real row */
    FTI_MAX_JSON_LINE = 16 << 20,   /* 16 MiB: a 2M-token prompt's hash_ids */
};

/* --- the byte stream, with line numbers and errors --- */

typedef struct fti_in {
    char *name;                 /* the file, for messages */
    FILE *f;
    unsigned char *buf;
    size_t len, pos;            /* bytes in buf, bytes consumed */
    bool eof;                   /* fread returned 0 */
    uint64_t line;              /* 1-based line of the next byte */
    size_t line_bytes;          /* bytes of that line already consumed */
    size_t max_line;
    /* errors */
    int rc;                     /* sticky: < 0 once the stream is found bad */
    char *msg;
    bool skip_bad;
    uint64_t skipped, filtered;
    char *first_skipped;
} fti_in;

/* Takes over f (closed by fti_in_close, also when this fails). 0 or -ENOMEM. */
int fti_in_init(fti_in *in, FILE *f, const char *name, bool skip_bad, size_t max_line,
                char **err);
void fti_in_close(fti_in *in);
/* The first bytes of the stream (reads the first chunk); *n 0 for an empty file. */
const unsigned char *fti_in_peek(fti_in *in, size_t *n);
/*
 * The next piece of input: up to and including the next '\n' within the buffer, or
 * the rest of the buffer. 1 = got one (*eol says whether it ends a line; the line
 * counter moves on after the caller's next call), 0 = end of file, <0 = read error
 * (set as the sticky error).
 */
int fti_in_piece(fti_in *in, const unsigned char **p, size_t *n, bool *eol);
/* Consumes input up to and including the next '\n' (after a line found bad). */
void fti_in_skip_line(fti_in *in);

/* Sets the sticky error "NAME:LINE: message" (the first one wins). Returns it. */
int fti_fatal(fti_in *in, uint64_t line, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * A bad row at `line`: with skip_bad counts it (and keeps the first message) and
 * returns 0; otherwise sets the sticky error and returns -EINVAL.
 */
int fti_bad_row(fti_in *in, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fills info->skipped, filtered, first_skipped. */
void fti_in_info(const fti_in *in, ft_source_info *info);
/* Copies the sticky error to *err (when err) and returns its code. */
int fti_in_error(const fti_in *in, char **err);

/* --- CSV rows (libcsv) --- */

typedef struct fti_field {
    size_t off, len;            /* in fti_csv.text */
} fti_field;

typedef struct fti_csv {
    fti_in *in;
    struct csv_parser p;
    bool p_live;                /* p initialised */
    char *text;                 /* fields, each NUL-terminated */
    size_t tlen, tcap;
    fti_field *f;               /* fields of the queued rows */
    size_t nf, fcap;
    /* rows completed and not yet consumed: row i = fields [rows[i].first, +count) */
    struct fti_row { size_t first, count; uint64_t line; } *rows;
    size_t nrows, rcap, rhead;
    size_t row_start;           /* first field of the row being assembled */
    bool at_row_start;          /* nothing of the next row fed yet */
    uint64_t row_line;          /* line where the row being assembled began */
    bool done;                  /* end of input reached and flushed */
} fti_csv;

int fti_csv_init(fti_csv *c, fti_in *in);
void fti_csv_free(fti_csv *c);
/*
 * Next row: 1 = *row filled (fields valid until the next call), 0 = end of input,
 * <0 = fatal error (in->rc). Malformed CSV and overlong lines go through fti_bad_row
 * and, when skipped, parsing resumes at the next line.
 */
typedef struct fti_rowref {
    const fti_csv *c;
    size_t first, count;
    uint64_t line;
} fti_rowref;
int fti_csv_next(fti_csv *c, fti_rowref *row);
/* Field i of a row (NUL-terminated), and its length. */
const char *fti_rowfield(const fti_rowref *r, size_t i, size_t *len);

/* --- whole lines (JSON lines) --- */

typedef struct fti_lines {
    fti_in *in;
    char *buf;                  /* a line that spans chunks */
    size_t len, cap;
} fti_lines;

/*
 * Next non-blank line without its "\n" or "\r\n": 1 = *p, *n, *line set (valid until
 * the next call), 0 = end, <0 = fatal. Overlong lines go through fti_bad_row.
 */
int fti_lines_next(fti_lines *l, const char **p, size_t *n, uint64_t *line);
void fti_lines_free(fti_lines *l);

/* --- values --- */

/* Decimal digits only, <= UINT32_MAX. */
bool fti_parse_u32(const char *s, uint32_t *v);
/* Decimal digits only, <= UINT64_MAX. */
bool fti_parse_u64(const char *s, uint64_t *v);
/* An optionally signed decimal integer that fits an int. */
bool fti_parse_int(const char *s, int *v);
/*
 * Non-negative decimal seconds "123", "123.456789" (digits beyond the 9th decimal
 * are dropped) times `unit_ns` (1e9 for seconds, 1e6 for milliseconds) into ns, exact
 * integer arithmetic, at most ~292 years.
 */
bool fti_parse_time(const char *s, int64_t unit_ns, int64_t *ns);
/* Writes s (at most 40 bytes of it) into out[] with non-printable and non-ASCII
 * bytes as \xNN, for echoing bad input in messages. Returns out. */
char *fti_escape(const char *s, size_t len, char out[200]);
/* Whether s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool fti_utf8_valid(const char *s, size_t len);

/* A 64-bit content id: XXH64 of (tag, a, b). Never 0. */
uint64_t fti_content(const char *tag, uint64_t a, uint64_t b);

/* --- readers (one per format), given an opened stream --- */

int fti_azure_new(fti_in *in, const ft_trace_opts *o, ft_source **out, char **err);
int fti_burstgpt_new(fti_in *in, const ft_trace_opts *o, ft_source **out, char **err);
int fti_mooncake_new(fti_in *in, const ft_trace_opts *o, ft_source **out, char **err);
int fti_csvtrace_new(fti_in *in, const ft_trace_opts *o, ft_source **out, char **err);

/* The zero-token policy after applying the format's default. */
static inline ft_zero_policy fti_zeros(ft_zero_policy p, ft_zero_policy dflt)
{
    return p == FT_ZERO_DEFAULT ? dflt : p;
}

/* --- generator parts (arrival.c, dist.c) --- */


/* A printf-style -EINVAL with "generator: " before the message. */
int fti_gen_fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A length (or duration) distribution ready to draw from. */
typedef struct fti_dist {
    ft_dist d;                  /* values/weights point into `values` / NULL */
    double *values;             /* empirical: own copy */
    gsl_ran_discrete_t *table;  /* empirical: alias table */
} fti_dist;

/*
 * Validates d (messages name `field`, e.g. "input.sd") and prepares it. `real`: a
 * duration in seconds (fixed 0 allowed, draws are not rounded); otherwise a token
 * length. 0, -EINVAL, -ENOMEM.
 */
int fti_dist_init(fti_dist *out, const ft_dist *d, const char *field, bool real, char **err);
/* A length drawn, rounded and clamped to [max(1, lo), hi] (hi > 0) or [1, cap]. */
uint32_t fti_dist_len(const fti_dist *d, gsl_rng *r, uint32_t cap);
/* A real draw clamped to [lo, hi] (hi > 0) and >= 0. */
double fti_dist_real(const fti_dist *d, gsl_rng *r);
void fti_dist_free(fti_dist *d);

/* An arrival process ready to draw from. */
typedef struct fti_arrivals {
    ft_arrival a;
    ft_rate_window *windows;    /* own copy */
    double t;                   /* the last arrival, seconds */
    double k, scale;            /* weibull: shape and scale of the gaps */
    bool on;                    /* onoff: current state */
    double state_end;           /* onoff: end of the current state, s */
    size_t w;                   /* windows: current window */
    bool w_started;             /* windows: t is inside window w */
    bool done;                  /* windows: past the last window */
} fti_arrivals;

int fti_arrivals_init(fti_arrivals *s, const ft_arrival *a, char **err);
/* The next arrival time in seconds; false when the process has ended (windows). */
bool fti_arrivals_next(fti_arrivals *s, gsl_rng *r, double *t);
void fti_arrivals_free(fti_arrivals *s);
/* Weibull shape whose coefficient of variation is cv (0 < cv); GSL root finding. */
double fti_weibull_shape(double cv);

/* --- workload specs (spec.c, specgen.c) --- */

#include "ft_spec.h"

/* Memory owned by a spec's store: zeroed, freed with the spec. NULL when out of memory. */
void *fti_spec_alloc(ft_spec *s, size_t size);
/* Hands a malloc'd block to the spec's store (freed with it). 0 or -ENOMEM (p freed). */
int fti_spec_keep(ft_spec *s, void *p);
/* -EINVAL with a positioned message (msg is malloc'd by fu_ynode_errf). */
int fti_yfail(char **err, char *msg);
/* Resolves rel against base_dir into out[size] and checks it can be opened. */
int fti_spec_path(fu_ynode where, const char *base_dir, const char *what, char *out,
                  size_t size, char **err);
/* Reads the generator keys of a `workload:` mapping into s->gen. */
int fti_spec_generator(ft_spec *s, fu_ynode n, const char *base_dir, char **err);
/* The generator's class names (for class filters by name); NULL when unnamed. */
const char *fti_spec_class_name(const ft_spec *s, size_t i);

#endif
