/*
 * fu_yaml.h: strict YAML reading for fleetsim's configuration files.
 *
 * Scenarios, catalogue files and (later) EndpointPickerConfig files are YAML. They are
 * small and read once, so the whole document is loaded with libyaml's document API and
 * walked as a tree; every node keeps its position so that every error can name
 * file:line:column and say what was expected. Struct fields are filled from a table of
 * field descriptions (fu_yfield) so that unknown keys, wrong types and out-of-range
 * numbers are rejected the same way everywhere.
 *
 * Ownership: fu_yaml_load_* return a document the caller frees with fu_yaml_free();
 * nodes and the strings they return point into the document and live as long as it.
 * Error messages go out through `char **err` and are malloc'd; the caller frees them.
 * Functions return 0 on success or a negative errno value (-EINVAL for bad input,
 * -ENOENT/-EIO for files, -ENOMEM) and leave their outputs untouched on failure.
 *
 * This is a leaf helper library (libfsutil) linked into every part; it depends on no
 * other part of the tree.
 */
#ifndef FU_YAML_H
#define FU_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fu_yaml fu_yaml;

/* A position in a document: a node, or the null node (n == NULL) for "absent". */
typedef struct fu_ynode {
    fu_yaml *doc;
    void *n; /* private: yaml_node_t * */
} fu_ynode;

/* Loads the first document of a file. An empty file gives a null root. */
int fu_yaml_load_file(const char *path, fu_yaml **out, char **err);
/* Loads from memory; `name` is what error messages call the source. */
int fu_yaml_load_string(const char *name, const char *text, size_t len, fu_yaml **out,
                        char **err);
/* Frees a document; accepts NULL. */
void fu_yaml_free(fu_yaml *doc);
/* The file name given at load time. */
const char *fu_yaml_name(const fu_yaml *doc);

fu_ynode fu_yaml_root(fu_yaml *doc);
static inline bool fu_ynode_ok(fu_ynode n) { return n.n != NULL; }
bool fu_ynode_is_map(fu_ynode n);
bool fu_ynode_is_seq(fu_ynode n);
bool fu_ynode_is_scalar(fu_ynode n);
/* 1-based line and column of the node's start; 0 for the null node. */
int fu_ynode_line(fu_ynode n);
int fu_ynode_col(fu_ynode n);

/* Scalar text, or NULL if the node is not a scalar. */
const char *fu_ynode_str(fu_ynode n);
/* Number of items of a sequence or pairs of a mapping; 0 otherwise. */
size_t fu_ynode_len(fu_ynode n);
/* i-th item of a sequence. */
fu_ynode fu_yseq_item(fu_ynode seq, size_t i);
/* i-th key (as a node) and value of a mapping. */
fu_ynode fu_ymap_key(fu_ynode map, size_t i);
fu_ynode fu_ymap_val(fu_ynode map, size_t i);
/* Value for a scalar key, or the null node when absent or `map` is not a mapping. */
fu_ynode fu_ymap_get(fu_ynode map, const char *key);

/*
 * Formats "file:line:col: <message>" for node n (or "file: <message>" for the null
 * node with a known document; pass the parent instead where possible). Returns a
 * malloc'd string, or NULL when out of memory.
 */
char *fu_ynode_errf(fu_ynode n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Typed scalar readers. Each fails with -EINVAL and a positioned message. */
int fu_ynode_double(fu_ynode n, double lo, double hi, double *out, char **err);
int fu_ynode_int64(fu_ynode n, int64_t lo, int64_t hi, int64_t *out, char **err);
int fu_ynode_bool(fu_ynode n, bool *out, char **err);
/*
 * A duration: a number followed by ns, us, ms, s, m or h ("250ms", "1.5s", "10m"), or
 * a bare number meaning seconds. Returns nanoseconds.
 */
int fu_ynode_duration_ns(fu_ynode n, int64_t lo, int64_t hi, int64_t *out, char **err);

/* Field types for fu_yaml_apply(). */
typedef enum fu_ytype {
    FU_Y_DOUBLE, /* double, stored value = YAML value x scale */
    FU_Y_INT,    /* int */
    FU_Y_INT64,  /* int64_t */
    FU_Y_BOOL,   /* bool */
    FU_Y_STR,    /* char[size]; a longer string is an error */
    FU_Y_DURATION_NS, /* int64_t nanoseconds */
} fu_ytype;

/* One settable field of a struct; tables of these end with a {NULL} entry. */
typedef struct fu_yfield {
    const char *key;   /* YAML key */
    fu_ytype type;
    size_t offset;     /* offsetof(struct, member) */
    size_t size;       /* for FU_Y_STR: buffer size */
    double lo, hi;     /* accepted range of the YAML value (numbers, durations in s) */
    double scale;      /* FU_Y_DOUBLE: stored = value x scale (0 means 1) */
    const char *help;  /* what it is, with its unit, for messages and --help */
} fu_yfield;

/*
 * Sets the fields of `base` named by the keys of mapping `map`. A key not in `fields`
 * is an error that lists the accepted keys, unless it is listed in `skip` (a
 * NULL-terminated list of keys the caller reads itself; may be NULL). `what` names
 * the mapping in messages ("accelerator", "engine"). On error `base` may be partly
 * updated: callers apply to a copy and commit it on success.
 */
int fu_yaml_apply(fu_ynode map, const char *what, const fu_yfield *fields,
                  const char *const *skip, void *base, char **err);

/* malloc'd printf; NULL when out of memory. */
char *fu_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
