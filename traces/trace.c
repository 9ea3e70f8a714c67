/*
 * trace.c: opens a trace file by format name, or by sniffing its first line.
 *
 * Sniffing looks only at the first chunk of input (never seeks, so pipes work): a
 * '{' first means Mooncake JSON lines; otherwise the header names the format:
 * TIMESTAMP or ROW_INDEX,TIMESTAMP (Azure), Timestamp (BurstGPT), a column named
 * arrival_s (fleetsim's CSV). Anything else is an error that lists what is known,
 * rather than a guess: a wrong guess would replay garbage silently.
 */
#include "ft_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = { "auto", "azure", "burstgpt", "mooncake", "csv" };

const char *ft_format_name(ft_format f)
{
    return (unsigned)f < sizeof names / sizeof *names ? names[f] : NULL;
}

int ft_format_parse(const char *name, ft_format *out)
{
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (ft_format)i;
            return 0;
        }
    return -EINVAL;
}

static bool starts(const unsigned char *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && memcmp(p, prefix, k) == 0;
}

/* Whether the first line (p[0..n), up to '\n') has a field named `col`. */
static bool has_column(const unsigned char *p, size_t n, const char *col)
{
    size_t k = strlen(col);
    for (size_t i = 0; i + k <= n && p[i] != '\n'; i++)
        if ((i == 0 || p[i - 1] == ',') && memcmp(p + i, col, k) == 0 &&
            (i + k == n || p[i + k] == ',' || p[i + k] == '\r' || p[i + k] == '\n'))
            return true;
    return false;
}

static int sniff(fti_in *in, ft_format *f)
{
    size_t n;
    const unsigned char *p = fti_in_peek(in, &n);
    if (in->rc < 0)
        return in->rc;
    if (starts(p, n, "\xEF\xBB\xBF"))
        p += 3, n -= 3;
    while (n && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++, n--;
    if (n == 0)
        return fti_fatal(in, 1, -EINVAL, "expected a trace (azure, burstgpt, mooncake or "
                         "csv), got an empty file");
    if (*p == '{')
        *f = FT_FMT_MOONCAKE;
    else if (starts(p, n, "TIMESTAMP,") || starts(p, n, "ROW_INDEX,TIMESTAMP,"))
        *f = FT_FMT_AZURE;
    else if (starts(p, n, "Timestamp,"))
        *f = FT_FMT_BURSTGPT;
    else if (has_column(p, n, "arrival_s"))
        *f = FT_FMT_CSV;
    else
        return fti_fatal(in, 1, -EINVAL, "unknown trace format: expected a header "
                         "'TIMESTAMP,ContextTokens,GeneratedTokens' (azure), "
                         "'Timestamp,Model,...' (burstgpt), "
                         "'arrival_s,input_tokens,output_tokens,...' (csv) or JSON lines "
                         "'{\"timestamp\": ...}' (mooncake)");
    return 0;
}

int ft_trace_fopen(FILE *f, const char *name, const ft_trace_opts *o, ft_source **out,
                   char **err)
{
    assert(f && name && o && out);
    char *ignored = NULL;
    char **e = err ? err : &ignored;
    fti_in in;
    ft_format fmt = o->format;
    *out = NULL;
    size_t max_line = fmt == FT_FMT_MOONCAKE ? FTI_MAX_JSON_LINE : FTI_MAX_CSV_LINE;
    int rc = fti_in_init(&in, f, name, o->skip_bad_rows, max_line, e);
    if (rc == 0 && fmt == FT_FMT_AUTO && (rc = sniff(&in, &fmt)) < 0) {
        fti_in_error(&in, e);
        fti_in_close(&in);
    }
    if (rc == 0) {
        in.max_line = fmt == FT_FMT_MOONCAKE ? FTI_MAX_JSON_LINE : FTI_MAX_CSV_LINE;
        switch (fmt) {
        case FT_FMT_AZURE: rc = fti_azure_new(&in, o, out, e); break;
        case FT_FMT_BURSTGPT: rc = fti_burstgpt_new(&in, o, out, e); break;
        case FT_FMT_MOONCAKE: rc = fti_mooncake_new(&in, o, out, e); break;
        case FT_FMT_CSV: rc = fti_csvtrace_new(&in, o, out, e); break;
        default:
            fti_in_close(&in);
            rc = -EINVAL;
            *e = strdup("trace: unknown format");
        }
    }
    free(ignored);
    return rc;
}

int ft_trace_open(const ft_trace_opts *o, ft_source **out, char **err)
{
    assert(o && out);
    *out = NULL;
    bool use_stdin = strcmp(o->path, "-") == 0;
    FILE *f = use_stdin ? stdin : fopen(o->path, "rb");
    if (!f) {
        int e = errno;
        if (err && asprintf(err, "%s: cannot open: %s", o->path, strerror(e)) < 0)
            *err = NULL;
        return -e;
    }
    return ft_trace_fopen(f, use_stdin ? "(stdin)" : o->path, o, out, err);
}
