/*
 * fu_yaml.c: strict YAML reading on top of libyaml's document API.
 *
 * Configuration files are small (a scenario, a catalogue, a router config) and read
 * once at start-up, so the whole document is loaded into libyaml's node tree and
 * walked; nothing here is on a hot path. What matters is the quality of the errors:
 * every message names file:line:column (1-based) and what was expected. Positions come
 * from each node's start mark. Rejected alternative: the event (streaming) API, which
 * would save memory nobody needs and make look-ups by key awkward.
 */
#include "fu_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct fu_yaml {
    yaml_document_t doc;
    char *name;
};

char *fu_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static int set_err(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

static int load_from_parser(yaml_parser_t *p, const char *name, fu_yaml **out, char **err)
{
    fu_yaml *y = calloc(1, sizeof *y);
    if (!y || !(y->name = strdup(name))) {
        free(y);
        return set_err(err, fu_asprintf("%s: out of memory", name), -ENOMEM);
    }
    if (!yaml_parser_load(p, &y->doc)) {
        const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;
        char *msg = fu_asprintf("%s:%zu:%zu: invalid YAML: %s%s%s", name, m->line + 1,
                                m->column + 1, p->problem ? p->problem : "parse error",
                                p->context ? " " : "", p->context ? p->context : "");
        free(y->name);
        free(y);
        return set_err(err, msg, -EINVAL);
    }
    *out = y;
    return 0;
}

int fu_yaml_load_string(const char *name, const char *text, size_t len, fu_yaml **out,
                        char **err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return set_err(err, fu_asprintf("%s: out of memory", name), -ENOMEM);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = load_from_parser(&p, name, out, err);
    yaml_parser_delete(&p);
    return rc;
}

int fu_yaml_load_file(const char *path, fu_yaml **out, char **err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return set_err(err, fu_asprintf("%s: cannot open: %s", path, strerror(e)),
                       e == ENOENT ? -ENOENT : -EIO);
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        return set_err(err, fu_asprintf("%s: out of memory", path), -ENOMEM);
    }
    yaml_parser_set_input_file(&p, f);
    int rc = load_from_parser(&p, path, out, err);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

void fu_yaml_free(fu_yaml *y)
{
    if (!y)
        return;
    yaml_document_delete(&y->doc);
    free(y->name);
    free(y);
}

const char *fu_yaml_name(const fu_yaml *y) { return y->name; }

static yaml_node_t *node(fu_ynode n) { return (yaml_node_t *)n.n; }

static fu_ynode wrap(fu_yaml *y, yaml_node_t *n)
{
    fu_ynode r = {y, n};
    return r;
}

fu_ynode fu_yaml_root(fu_yaml *y) { return wrap(y, yaml_document_get_root_node(&y->doc)); }

bool fu_ynode_is_map(fu_ynode n) { return n.n && node(n)->type == YAML_MAPPING_NODE; }
bool fu_ynode_is_seq(fu_ynode n) { return n.n && node(n)->type == YAML_SEQUENCE_NODE; }
bool fu_ynode_is_scalar(fu_ynode n) { return n.n && node(n)->type == YAML_SCALAR_NODE; }
int fu_ynode_line(fu_ynode n) { return n.n ? (int)node(n)->start_mark.line + 1 : 0; }
int fu_ynode_col(fu_ynode n) { return n.n ? (int)node(n)->start_mark.column + 1 : 0; }

const char *fu_ynode_str(fu_ynode n)
{
    return fu_ynode_is_scalar(n) ? (const char *)node(n)->data.scalar.value : NULL;
}

size_t fu_ynode_len(fu_ynode n)
{
    if (fu_ynode_is_seq(n))
        return (size_t)(node(n)->data.sequence.items.top - node(n)->data.sequence.items.start);
    if (fu_ynode_is_map(n))
        return (size_t)(node(n)->data.mapping.pairs.top - node(n)->data.mapping.pairs.start);
    return 0;
}

fu_ynode fu_yseq_item(fu_ynode seq, size_t i)
{
    if (i >= fu_ynode_len(seq) || !fu_ynode_is_seq(seq))
        return wrap(seq.doc, NULL);
    yaml_node_item_t id = node(seq)->data.sequence.items.start[i];
    return wrap(seq.doc, yaml_document_get_node(&seq.doc->doc, id));
}

fu_ynode fu_ymap_key(fu_ynode map, size_t i)
{
    if (i >= fu_ynode_len(map) || !fu_ynode_is_map(map))
        return wrap(map.doc, NULL);
    yaml_node_pair_t *p = &node(map)->data.mapping.pairs.start[i];
    return wrap(map.doc, yaml_document_get_node(&map.doc->doc, p->key));
}

fu_ynode fu_ymap_val(fu_ynode map, size_t i)
{
    if (i >= fu_ynode_len(map) || !fu_ynode_is_map(map))
        return wrap(map.doc, NULL);
    yaml_node_pair_t *p = &node(map)->data.mapping.pairs.start[i];
    return wrap(map.doc, yaml_document_get_node(&map.doc->doc, p->value));
}

fu_ynode fu_ymap_get(fu_ynode map, const char *key)
{
    size_t n = fu_ynode_len(map);
    for (size_t i = 0; fu_ynode_is_map(map) && i < n; i++) {
        const char *k = fu_ynode_str(fu_ymap_key(map, i));
        if (k && strcmp(k, key) == 0)
            return fu_ymap_val(map, i);
    }
    return wrap(map.doc, NULL);
}

char *fu_ynode_errf(fu_ynode n, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    if (!msg)
        return NULL;
    const char *file = n.doc ? n.doc->name : "<input>";
    char *full = n.n ? fu_asprintf("%s:%d:%d: %s", file, fu_ynode_line(n), fu_ynode_col(n), msg)
                     : fu_asprintf("%s: %s", file, msg);
    free(msg);
    return full;
}

/* A short rendering of what the node is, for "got ..." in messages. */
static const char *describe(fu_ynode n)
{
    if (!n.n)
        return "nothing";
    if (fu_ynode_is_map(n))
        return "a mapping";
    if (fu_ynode_is_seq(n))
        return "a sequence";
    return NULL;
}

static int expect_scalar(fu_ynode n, const char *what, char **err)
{
    const char *d = describe(n);
    if (!d && fu_ynode_str(n)[0] != '\0')
        return 0;
    return set_err(err, fu_ynode_errf(n, "expected %s, got %s", what, d ? d : "an empty value"),
                   -EINVAL);
}

int fu_ynode_double(fu_ynode n, double lo, double hi, double *out, char **err)
{
    int rc = expect_scalar(n, "a number", err);
    if (rc)
        return rc;
    const char *s = fu_ynode_str(n);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0' || errno == ERANGE || !isfinite(v))
        return set_err(err, fu_ynode_errf(n, "expected a number, got '%s'", s), -EINVAL);
    if (v < lo || v > hi)
        return set_err(err, fu_ynode_errf(n, "expected a number in [%g, %g], got %s", lo, hi, s),
                       -EINVAL);
    *out = v;
    return 0;
}

int fu_ynode_int64(fu_ynode n, int64_t lo, int64_t hi, int64_t *out, char **err)
{
    int rc = expect_scalar(n, "an integer", err);
    if (rc)
        return rc;
    const char *s = fu_ynode_str(n);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno == ERANGE)
        return set_err(err, fu_ynode_errf(n, "expected an integer, got '%s'", s), -EINVAL);
    if (v < lo || v > hi)
        return set_err(err,
                       fu_ynode_errf(n, "expected an integer in [%lld, %lld], got %s",
                                     (long long)lo, (long long)hi, s),
                       -EINVAL);
    *out = v;
    return 0;
}

int fu_ynode_bool(fu_ynode n, bool *out, char **err)
{
    int rc = expect_scalar(n, "true or false", err);
    if (rc)
        return rc;
    const char *s = fu_ynode_str(n);
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return set_err(err, fu_ynode_errf(n, "expected true or false, got '%s'", s), -EINVAL);
}

/* Nanoseconds per unit for a duration suffix; 0 when the suffix is unknown. */
static double unit_ns(const char *u)
{
    static const struct { const char *name; double ns; } units[] = {
        {"", 1e9}, {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(u, units[i].name) == 0)
            return units[i].ns;
    return 0;
}

int fu_ynode_duration_ns(fu_ynode n, int64_t lo, int64_t hi, int64_t *out, char **err)
{
    int rc = expect_scalar(n, "a duration", err);
    if (rc)
        return rc;
    const char *s = fu_ynode_str(n);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double per = end == s ? 0 : unit_ns(end);
    if (per == 0 || errno == ERANGE || !isfinite(v))
        return set_err(err,
                       fu_ynode_errf(n, "expected a duration such as 250ms, 1.5s or 10m, got '%s'", s),
                       -EINVAL);
    double ns = v * per;
    if (ns < (double)lo || ns > (double)hi)
        return set_err(err,
                       fu_ynode_errf(n, "expected a duration in [%gs, %gs], got %s", lo / 1e9,
                                     hi / 1e9, s),
                       -EINVAL);
    *out = (int64_t)llround(ns);
    return 0;
}

static const fu_yfield *find_field(const fu_yfield *f, const char *key)
{
    for (; f->key; f++)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static bool in_list(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

/* "a, b, c" of the accepted keys, for the unknown-key message. */
static char *key_list(const fu_yfield *f, const char *const *skip)
{
    size_t len = 1;
    for (const fu_yfield *g = f; g->key; g++)
        len += strlen(g->key) + 2;
    for (const char *const *k = skip; k && *k; k++)
        len += strlen(*k) + 2;
    char *s = calloc(1, len);
    for (const fu_yfield *g = f; s && g->key; g++)
        strcat(strcat(s, *s ? ", " : ""), g->key);
    for (const char *const *k = skip; s && k && *k; k++)
        strcat(strcat(s, *s ? ", " : ""), *k);
    return s;
}

static int set_str(fu_ynode v, const fu_yfield *f, char *dst, char **err)
{
    int rc = expect_scalar(v, "a string", err);
    if (rc)
        return rc;
    const char *s = fu_ynode_str(v);
    if (strlen(s) >= f->size)
        return set_err(err,
                       fu_ynode_errf(v, "%s is too long (at most %zu characters)", f->key,
                                     f->size - 1),
                       -EINVAL);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

static int set_field(fu_ynode v, const fu_yfield *f, void *base, char **err)
{
    char *dst = (char *)base + f->offset;
    double d;
    int64_t i;
    int rc;
    switch (f->type) {
    case FU_Y_DOUBLE:
        if ((rc = fu_ynode_double(v, f->lo, f->hi, &d, err)) == 0)
            *(double *)dst = d * (f->scale != 0 ? f->scale : 1);
        return rc;
    case FU_Y_INT:
        if ((rc = fu_ynode_int64(v, (int64_t)f->lo, (int64_t)f->hi, &i, err)) == 0)
            *(int *)dst = (int)i;
        return rc;
    case FU_Y_INT64:
        if ((rc = fu_ynode_int64(v, (int64_t)f->lo, (int64_t)f->hi, &i, err)) == 0)
            *(int64_t *)dst = i;
        return rc;
    case FU_Y_BOOL:
        return fu_ynode_bool(v, (bool *)dst, err);
    case FU_Y_STR:
        return set_str(v, f, dst, err);
    case FU_Y_DURATION_NS:
        if ((rc = fu_ynode_duration_ns(v, (int64_t)(f->lo * 1e9), (int64_t)(f->hi * 1e9), &i,
                                       err)) == 0)
            *(int64_t *)dst = i;
        return rc;
    }
    return -EINVAL;
}

int fu_yaml_apply(fu_ynode map, const char *what, const fu_yfield *fields,
                  const char *const *skip, void *base, char **err)
{
    if (!fu_ynode_is_map(map))
        return set_err(err, fu_ynode_errf(map, "expected a mapping (key: value lines) for %s, got %s",
                                          what, describe(map) ? describe(map) : "a scalar"),
                       -EINVAL);
    for (size_t i = 0; i < fu_ynode_len(map); i++) {
        fu_ynode k = fu_ymap_key(map, i);
        const char *key = fu_ynode_str(k);
        if (!key)
            return set_err(err, fu_ynode_errf(k, "expected a plain key in %s", what), -EINVAL);
        for (size_t j = 0; j < i; j++) {
            const char *prev = fu_ynode_str(fu_ymap_key(map, j));
            if (prev && strcmp(prev, key) == 0)
                return set_err(err, fu_ynode_errf(k, "duplicate key '%s' in %s", key, what),
                               -EINVAL);
        }
        const fu_yfield *f = find_field(fields, key);
        if (!f) {
            if (in_list(skip, key))
                continue;
            char *keys = key_list(fields, skip);
            char *msg = fu_ynode_errf(k, "unknown key '%s' in %s (expected one of: %s)", key,
                                      what, keys ? keys : "?");
            free(keys);
            return set_err(err, msg, -EINVAL);
        }
        int rc = set_field(fu_ymap_val(map, i), f, base, err);
        if (rc)
            return rc;
    }
    return 0;
}
