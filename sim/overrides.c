/*
 * overrides.c: "set path=value" on a scenario's YAML tree (see overrides.h).
 *
 * Works on libyaml's document API directly (util/fu_yaml.h is a read-only view):
 * parse the base text, parse each value as its own document, copy the value's nodes
 * into the base document and hang them at the path, then emit. Rejected: patching
 * the loaded fs_scenario struct field by field (every field would need its own setter
 * and its own validation, and `accelerator=H200` would have to re-resolve the
 * catalogue), and textual substitution (breaks on flow mappings and indentation).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "fm_models.h"
#include "fu_yaml.h"
#include "overrides.h"

static int fail(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return -EINVAL;
}

/* Parses `text` into *d; an empty text gives a document without a root. */
static int parse(const char *name, const char *text, yaml_document_t *d, char **err)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return fail(err, fu_asprintf("%s: out of memory", name)), -ENOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    int rc = 0;
    if (!yaml_parser_load(&p, d))
        rc = fail(err, fu_asprintf("%s:%zu:%zu: %s", name, p.problem_mark.line + 1,
                                   p.problem_mark.column + 1,
                                   p.problem ? p.problem : "invalid YAML"));
    yaml_parser_delete(&p);
    return rc;
}

/* Copies node `i` of `src` into `dst`; the new node's index, 0 when out of memory. */
static int copy_node(yaml_document_t *dst, yaml_document_t *src, int i)
{
    yaml_node_t *n = yaml_document_get_node(src, i);
    int out = 0;
    if (n->type == YAML_SCALAR_NODE)
        return yaml_document_add_scalar(dst, NULL, n->data.scalar.value,
                                        (int)n->data.scalar.length, n->data.scalar.style);
    if (n->type == YAML_SEQUENCE_NODE) {
        out = yaml_document_add_sequence(dst, NULL, n->data.sequence.style);
        int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
        for (int k = 0; out && k < len; k++) {
            int item = n->data.sequence.items.start[k];
            int c = copy_node(dst, src, item);
            if (!c || !yaml_document_append_sequence_item(dst, out, c))
                return 0;
            n = yaml_document_get_node(src, i);
        }
        return out;
    }
    out = yaml_document_add_mapping(dst, NULL, n->data.mapping.style);
    int len = (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    for (int k = 0; out && k < len; k++) {
        yaml_node_pair_t pr = yaml_document_get_node(src, i)->data.mapping.pairs.start[k];
        int key = copy_node(dst, src, pr.key), val = key ? copy_node(dst, src, pr.value) : 0;
        if (!val || !yaml_document_append_mapping_pair(dst, out, key, val))
            return 0;
    }
    return out;
}

/* The value of `key` in mapping node `map`, or 0; *pair gets its pair's position. */
static int map_find(yaml_document_t *d, int map, const char *key, int *pair)
{
    yaml_node_t *m = yaml_document_get_node(d, map);
    int len = (int)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    for (int k = 0; k < len; k++) {
        yaml_node_t *kn = yaml_document_get_node(d, m->data.mapping.pairs.start[k].key);
        if (kn->type == YAML_SCALAR_NODE && strcmp((char *)kn->data.scalar.value, key) == 0) {
            *pair = k;
            return m->data.mapping.pairs.start[k].value;
        }
    }
    return 0;
}

/* Index component of a path: 0..len; -1 when not a number or out of range. */
static int seq_index(const char *comp, int len)
{
    char *end;
    long v = strtol(comp, &end, 10);
    return (*comp && !*end && v >= 0 && v <= len) ? (int)v : -1;
}

/*
 * Puts node `val` at key/index `comp` of node `parent`, replacing what is there.
 * `at` is the path so far, for messages.
 */
static int put_child(yaml_document_t *d, int parent, const char *comp, int val,
                     const char *at, char **err)
{
    yaml_node_t *p = yaml_document_get_node(d, parent);
    if (p->type == YAML_SEQUENCE_NODE) {
        int len = (int)(p->data.sequence.items.top - p->data.sequence.items.start);
        int k = seq_index(comp, len);
        if (k < 0)
            return fail(err, fu_asprintf("%s has %d items; expected an index 0..%d, not '%s'",
                                         at, len, len, comp));
        if (k < len)
            return p->data.sequence.items.start[k] = val, 0;
        return yaml_document_append_sequence_item(d, parent, val) ? 0 : -ENOMEM;
    }
    if (p->type != YAML_MAPPING_NODE)
        return fail(err, fu_asprintf("%s is a scalar, not a mapping or sequence", at));
    int pair;
    if (map_find(d, parent, comp, &pair))
        return yaml_document_get_node(d, parent)->data.mapping.pairs.start[pair].value = val, 0;
    int key = yaml_document_add_scalar(d, NULL, (yaml_char_t *)comp, -1,
                                       YAML_ANY_SCALAR_STYLE);
    return key && yaml_document_append_mapping_pair(d, parent, key, val) ? 0 : -ENOMEM;
}

/* The child `comp` of `parent`, created as an empty mapping when a mapping lacks it. */
static int get_child(yaml_document_t *d, int parent, const char *comp, const char *at,
                     int *out, char **err)
{
    yaml_node_t *p = yaml_document_get_node(d, parent);
    int pair;
    if (p->type == YAML_SEQUENCE_NODE) {
        int len = (int)(p->data.sequence.items.top - p->data.sequence.items.start);
        int k = seq_index(comp, len - 1);
        if (k < 0)
            return fail(err, fu_asprintf("%s has %d items; no item '%s'", at, len, comp));
        return *out = p->data.sequence.items.start[k], 0;
    }
    if (p->type != YAML_MAPPING_NODE)
        return fail(err, fu_asprintf("%s is a scalar, not a mapping or sequence", at));
    if ((*out = map_find(d, parent, comp, &pair)) != 0)
        return 0;
    int m = yaml_document_add_mapping(d, NULL, YAML_BLOCK_MAPPING_STYLE);
    if (!m || put_child(d, parent, comp, m, at, err) != 0)
        return -ENOMEM;
    return *out = m, 0;
}

/* Applies one "path=value" to document d. */
static int apply_one(yaml_document_t *d, const char *set, char **err)
{
    const char *eq = strchr(set, '=');
    if (!eq || eq == set)
        return fail(err, fu_asprintf("--set %s: expected PATH=VALUE (e.g. "
                                     "workload.arrival.rate=8)", set));
    size_t atsize = strlen(set) + 16; /* "the scenario", or a prefix of the path */
    char *path = strndup(set, (size_t)(eq - set)), *at = calloc(1, atsize);
    yaml_document_t v;
    int rc = path && at ? parse("value", eq + 1, &v, err) : -ENOMEM;
    if (rc != 0)
        goto out;
    yaml_node_t *vroot = yaml_document_get_root_node(&v);
    int val = vroot ? copy_node(d, &v, 1)
                    : yaml_document_add_scalar(d, NULL, (yaml_char_t *)"", 0,
                                               YAML_SINGLE_QUOTED_SCALAR_STYLE);
    yaml_document_delete(&v);
    int cur = 1;
    snprintf(at, atsize, "the scenario");
    char *save = NULL, *comp = strtok_r(path, ".", &save);
    for (char *next; rc == 0 && comp; comp = next) {
        next = strtok_r(NULL, ".", &save);
        rc = !val ? -ENOMEM : next ? get_child(d, cur, comp, at, &cur, err)
                                    : put_child(d, cur, comp, val, at, err);
        snprintf(at, atsize, "%.*s", (int)(comp - path + (ptrdiff_t)strlen(comp)), set);
    }
out:
    if (rc == -EINVAL && err && *err) {
        char *m = fu_asprintf("--set %s: %s", set, *err);
        free(*err);
        *err = m;
    }
    free(path);
    free(at);
    return rc;
}

static int emit_write(void *data, unsigned char *buf, size_t size)
{
    return fwrite(buf, 1, size, (FILE *)data) == size;
}

/* Emits d (and deletes it, as libyaml's dumper does) into a malloc'd string. */
static int emit(yaml_document_t *d, char **out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    yaml_emitter_t e;
    if (!mem || !yaml_emitter_initialize(&e)) {
        if (mem)
            fclose(mem);
        free(buf);
        yaml_document_delete(d);
        return -ENOMEM;
    }
    yaml_emitter_set_output(&e, emit_write, mem);
    yaml_emitter_set_width(&e, -1);
    yaml_emitter_set_unicode(&e, 1);
    int ok = yaml_emitter_open(&e) && yaml_emitter_dump(&e, d) && yaml_emitter_close(&e);
    yaml_emitter_delete(&e);
    fclose(mem);
    if (!ok) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    return 0;
}

int fs_overrides_apply(const char *name, const char *text, const char *const *sets, int nsets,
                       char **out, char **err)
{
    yaml_document_t d;
    int rc = parse(name, text, &d, err);
    if (rc != 0)
        return rc;
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (!root || root->type != YAML_MAPPING_NODE)
        rc = fail(err, fu_asprintf("%s: expected a mapping of scenario keys", name));
    for (int i = 0; rc == 0 && i < nsets; i++)
        rc = apply_one(&d, sets[i], err);
    if (rc != 0) {
        yaml_document_delete(&d);
        return rc;
    }
    if ((rc = emit(&d, out)) != 0)
        fail(err, fu_asprintf("%s: out of memory", name));
    return rc;
}

int fs_overrides_read_file(const char *path, char **out, char **err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, fu_asprintf("%s: cannot open: %s", path, strerror(errno))), -ENOENT;
    char *buf = NULL, chunk[8192];
    size_t len = 0, n;
    FILE *mem = open_memstream(&buf, &len);
    while (mem && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    int bad = ferror(f);
    fclose(f);
    if (mem)
        fclose(mem);
    if (!mem || bad) {
        free(buf);
        return fail(err, fu_asprintf("%s: cannot read", path)), -EIO;
    }
    *out = buf;
    return 0;
}

/* Loads path with sets applied against catalogue `cat`. */
static int load_with(const char *path, const char *const *sets, int nsets,
                     const fm_catalog *cat, fs_scenario *sc, char **err)
{
    if (nsets == 0)
        return fs_scenario_load(path, cat, sc, err);
    char *text = NULL, *patched = NULL;
    int rc = fs_overrides_read_file(path, &text, err);
    if (rc == 0)
        rc = fs_overrides_apply(path, text, sets, nsets, &patched, err);
    if (rc == 0)
        rc = fs_scenario_load_text(path, patched, cat, sc, err);
    free(text);
    free(patched);
    return rc;
}

int fs_load_scenario_set(const char *cmd, const char *path, const char *const *sets,
                         int nsets, const fs_run_opts *ro, fs_scenario *sc)
{
    fm_catalog *cat = NULL;
    char *err = NULL;
    const char *dir = ro->catalog ? ro->catalog : fm_default_catalog_dir();
    int rc = fm_catalog_load_dir(dir, &cat, &err);
    if (rc == 0)
        rc = load_with(path, sets, nsets, cat, sc, &err);
    fm_catalog_free(cat);
    if (rc != 0) {
        fprintf(stderr, "fleetsim %s: %s\n", cmd, err ? err : strerror(-rc));
        free(err);
        return -1;
    }
    if (ro->seed_set) {
        sc->seed = ro->seed;
        ft_spec_set_seed(&sc->workload, ro->seed);
    }
    if (ro->requests)
        ft_spec_set_requests(&sc->workload, ro->requests);
    return 0;
}
