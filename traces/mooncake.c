/*
 * mooncake.c: a streaming reader for Mooncake's JSON-lines traces (kvcache-ai/Mooncake,
 * FAST'25), the format that records prefix sharing.
 *
 * One JSON object per line:
 *     {"timestamp": 0, "input_length": 40160, "output_length": 6, "hash_ids": [0, 1, ...]}
 * `timestamp` is in milliseconds from the trace's start; `hash_ids` names the prompt's
 * blocks of 512 tokens, so that two prompts with equal first k ids share their first
 * k x 512 tokens (the ids are chained: an id stands for its whole prefix).
 * Workload assumed: thousands to millions of lines of a few KiB each, sorted by time.
 *
 * Mapping onto segments: block i becomes one segment (content = a hash of hash_ids[i],
 * length 512, the last one input_length - 512 (n - 1)), so the segment description of
 * two prompts agrees exactly where their hash_ids agree, at any block size a consumer
 * hashes at. A partial last block shares its tokens with an earlier use of the same id
 * up to the shorter of the two lengths.
 *
 * Choices: each line is parsed by jansson (json_loadb), so a malformed line is a bad
 * row with jansson's column; keys other than the four are ignored (Mooncake's other
 * traces add some); len(hash_ids) must be ceil(input_length / 512) (the format's
 * invariant, checked, because prefix sharing depends on it); timestamps may be
 * integers or decimals and must not decrease; output_length 0 is a bad row unless
 * zeros says otherwise. Lines are capped at 16 MiB.
 */
#include "ft_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

typedef struct mooncake {
    fti_in in;
    fti_lines lines;
    uint32_t block;
    ft_zero_policy zeros;
    int64_t t_prev;
    bool have_prev;
    uint64_t max_requests, n;
    ft_segment *segs;
    size_t cap;
} mooncake;

static int bad(mooncake *m, uint64_t line, const char *key, const char *what)
{
    return fti_bad_row(&m->in, line, "expected %s for \"%s\"", what, key);
}

/* Milliseconds (integer or decimal, >= 0) to ns. */
static int get_time(mooncake *m, json_t *o, uint64_t line, int64_t *t)
{
    json_t *v = json_object_get(o, "timestamp");
    double ms = json_is_number(v) ? json_number_value(v) : -1;
    if (!(ms >= 0) || ms > 9e12)
        return bad(m, line, "timestamp", "a number of milliseconds >= 0");
    *t = json_is_integer(v) ? json_integer_value(v) * 1000000 : llround(ms * 1e6);
    if (m->have_prev && *t < m->t_prev)
        return fti_bad_row(&m->in, line, "expected timestamps in order, but %.17g ms is "
                           "earlier than the previous line's", ms);
    return 1;
}

/* A token count: 1 = ok, 0 = drop the row, <0 = error. */
static int get_len(mooncake *m, json_t *o, const char *key, uint64_t line, uint32_t *len)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)UINT32_MAX / 2)
        return bad(m, line, key, "an integer token count >= 0");
    *len = (uint32_t)json_integer_value(v);
    if (*len > 0)
        return 1;
    if (m->zeros == FT_ZERO_ONE) {
        *len = 1;
        return 1;
    }
    if (m->zeros == FT_ZERO_SKIP) {
        m->in.filtered++;
        return 0;
    }
    return bad(m, line, key, "a token count >= 1");
}

static int get_blocks(mooncake *m, json_t *o, uint64_t line, uint32_t input)
{
    json_t *ids = json_object_get(o, "hash_ids");
    size_t n = json_array_size(ids), want = (input + m->block - 1) / m->block;
    if (!json_is_array(ids) || n != want) {
        char what[96];
        snprintf(what, sizeof what, "an array of ceil(%u / %u) = %zu block ids", input,
                 m->block, want);
        return bad(m, line, "hash_ids", what);
    }
    if (n > m->cap) {
        ft_segment *s = realloc(m->segs, n * sizeof *s);
        if (!s)
            return fti_fatal(&m->in, line, -ENOMEM, "out of memory");
        m->segs = s;
        m->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v))
            return bad(m, line, "hash_ids", "integer block ids");
        uint32_t len = i + 1 < n ? m->block : input - m->block * (uint32_t)(n - 1);
        m->segs[i] = (ft_segment){ fti_content("mooncake/block",
                                               (uint64_t)json_integer_value(v), 0), len };
    }
    return 1;
}

static int parse_object(mooncake *m, json_t *o, uint64_t line, ft_request *out)
{
    int64_t t = 0;
    int rc = get_time(m, o, line, &t);
    if (rc == 1)
        rc = get_len(m, o, "input_length", line, &out->input_tokens);
    if (rc == 1)
        rc = get_len(m, o, "output_length", line, &out->output_tokens);
    if (rc == 1)
        rc = get_blocks(m, o, line, out->input_tokens);
    if (rc != 1)
        return rc;
    m->have_prev = true;
    m->t_prev = out->arrival_ns = t;
    out->segs = m->segs;
    out->nsegs = (uint32_t)json_array_size(json_object_get(o, "hash_ids"));
    return 1;
}

/* Parses one line: 1 = a request, 0 = dropped, <0 = error. */
static int parse_line(mooncake *m, const char *p, size_t n, uint64_t line, ft_request *out)
{
    json_error_t je;
    json_t *o = json_loadb(p, n, 0, &je);
    if (!o)
        return fti_bad_row(&m->in, line, "expected a JSON object: %s (column %d)", je.text,
                           je.column);
    int rc = json_is_object(o) ? parse_object(m, o, line, out)
                               : fti_bad_row(&m->in, line, "expected a JSON object "
                                             "{\"timestamp\": ..., \"input_length\": ..., "
                                             "\"output_length\": ..., \"hash_ids\": [...]}");
    json_decref(o);
    return rc;
}

static int mooncake_next(void *self, ft_request *out, char **err)
{
    mooncake *m = self;
    const char *p;
    size_t n;
    uint64_t line;
    int rc;
    if (m->max_requests && m->n >= m->max_requests)
        return 0;
    do {
        if ((rc = fti_lines_next(&m->lines, &p, &n, &line)) != 1)
            return rc < 0 ? fti_in_error(&m->in, err) : 0;
        memset(out, 0, sizeof *out);
        if ((rc = parse_line(m, p, n, line, out)) < 0)
            return fti_in_error(&m->in, err);
    } while (rc == 0);
    m->n++;
    return 1;
}

static void mooncake_info(void *self, ft_source_info *out)
{
    fti_in_info(&((mooncake *)self)->in, out);
    out->shares_prefixes = true;
}

static void mooncake_destroy(void *self)
{
    mooncake *m = self;
    if (!m)
        return;
    fti_lines_free(&m->lines);
    fti_in_close(&m->in);
    free(m->segs);
    free(m);
}

static const ft_source_ops mooncake_ops = { "mooncake", mooncake_next, mooncake_destroy,
                                            mooncake_info };

int fti_mooncake_new(fti_in *in, const ft_trace_opts *o, ft_source **out, char **err)
{
    mooncake *m = calloc(1, sizeof *m);
    if (!m) {
        fti_in_close(in);
        return *err = strdup("mooncake: out of memory"), -ENOMEM;
    }
    m->in = *in;
    m->lines.in = &m->in;
    m->block = o->block_tokens ? o->block_tokens : 512;
    m->zeros = fti_zeros(o->zeros, FT_ZERO_ERROR);
    m->max_requests = o->max_requests;
    size_t n;
    fti_in_peek(&m->in, &n);
    if (m->in.rc == 0 && n == 0)
        fti_fatal(&m->in, 1, -EINVAL, "expected JSON lines {\"timestamp\": ..., "
                  "\"input_length\": ..., \"output_length\": ..., \"hash_ids\": [...]}, "
                  "got an empty file");
    if (m->in.rc < 0) {
        int rc = fti_in_error(&m->in, err);
        mooncake_destroy(m);
        return rc;
    }
    *out = ft_source_wrap(&mooncake_ops, m);
    return *out ? 0 : (*err = strdup("mooncake: out of memory"), -ENOMEM);
}
