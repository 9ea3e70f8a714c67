/*
 * catalog.c: accelerators and LLMs as data. Reads the catalogue files under
 * models/catalog (and any directory a user points at), and applies YAML mappings onto
 * single entries, so a scenario can name a catalogue entry and override fields or
 * define one inline.
 *
 * A catalogue is a few dozen entries read once at start-up: entries live in two
 * growable arrays and lookup is a linear, case-insensitive scan. Rejected: a hash
 * table, which would buy nothing at this size and lose the file order that
 * fm_catalog_*_at() and "known names" messages show.
 *
 * Files hold two optional top-level mappings, `accelerators:` and `llms:`, of name ->
 * fields. An entry may start from an earlier one with `base: NAME` (a price book:
 * `H100-spot: {base: H100-SXM, price_per_hour: 1.2}`); files load in byte order of
 * their names, so a user's zz-prices.yaml can build on the bundled entries. Field names and units are those people quote (TFLOPS, GB, TB/s, us); the
 * tables below convert them to SI. Every error names file:line:column.
 */
#include "fm_models.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define A(f) offsetof(fm_accel, f)
#define L(f) offsetof(fm_llm, f)

/* Keys the caller of fm_*_from_yaml reads itself (scenario files). */
static const char *const accel_caller_keys[] = {"base", NULL};
static const char *const llm_caller_keys[] = {"base", "hf_config", NULL};

static const fu_yfield accel_fields[] = {
    {"name", FU_Y_STR, A(name), FM_NAME_MAX, 0, 0, 0, "name"},
    {"vendor", FU_Y_STR, A(vendor), sizeof(((fm_accel *)0)->vendor), 0, 0, 0, "vendor"},
    {"bf16_tflops", FU_Y_DOUBLE, A(bf16_flops), 0, 1e-3, 1e6, 1e12, "peak dense BF16, TFLOPS"},
    {"fp8_tflops", FU_Y_DOUBLE, A(fp8_flops), 0, 0, 1e6, 1e12, "peak dense FP8, TFLOPS (0 = none)"},
    {"memory_gb", FU_Y_DOUBLE, A(mem_bytes), 0, 1e-3, 1e6, 1e9, "device memory, GB (1e9 B)"},
    {"memory_tbps", FU_Y_DOUBLE, A(mem_bw), 0, 1e-3, 1e3, 1e12, "memory bandwidth, TB/s"},
    {"intra_node_gbps", FU_Y_DOUBLE, A(intra_bw), 0, 1e-3, 1e6, 1e9,
     "intra-node link per accelerator, GB/s one direction"},
    {"intra_node_latency_us", FU_Y_DOUBLE, A(intra_lat), 0, 0, 1e6, 1e-6,
     "intra-node link latency, us"},
    {"accels_per_node", FU_Y_INT, A(accels_per_node), 0, 1, 1e6, 0, "accelerators per node"},
    {"scaleout_gbit", FU_Y_DOUBLE, A(scaleout_bw), 0, 1e-3, 1e6, 1e9 / 8,
     "scale-out network per accelerator, Gb/s"},
    {"scaleout_latency_us", FU_Y_DOUBLE, A(scaleout_lat), 0, 0, 1e6, 1e-6,
     "scale-out latency, us"},
    {"tdp_w", FU_Y_DOUBLE, A(tdp_w), 0, 0, 1e5, 0, "board power at full load, W"},
    {"idle_w", FU_Y_DOUBLE, A(idle_w), 0, 0, 1e5, 0, "idle power, W"},
    {"price_per_hour", FU_Y_DOUBLE, A(price_per_hour), 0, 0, 1e4, 0,
     "USD per accelerator-hour (0 = unknown)"},
    {"price_source", FU_Y_STR, A(price_source), sizeof(((fm_accel *)0)->price_source), 0, 0, 0,
     "where the price comes from, with its date"},
    {"eff_compute", FU_Y_DOUBLE, A(eff_compute), 0, 1e-3, 1, 0, "achievable fraction of peak FLOP/s"},
    {"eff_memory", FU_Y_DOUBLE, A(eff_memory), 0, 1e-3, 1, 0, "achievable fraction of bandwidth"},
    {"eff_comm", FU_Y_DOUBLE, A(eff_comm), 0, 1e-3, 1, 0, "achievable fraction of link bandwidth"},
    {"step_overhead_us", FU_Y_DOUBLE, A(step_overhead), 0, 0, 1e7, 1e-6,
     "fixed overhead per engine step, us"},
    {NULL},
};

static const fu_yfield llm_fields[] = {
    {"name", FU_Y_STR, L(name), FM_NAME_MAX, 0, 0, 0, "name"},
    {"layers", FU_Y_INT, L(n_layers), 0, 1, 10000, 0, "decoder layers"},
    {"hidden_size", FU_Y_INT, L(d_model), 0, 1, 1 << 20, 0, "model width"},
    {"heads", FU_Y_INT, L(n_heads), 0, 1, 1 << 16, 0, "query heads"},
    {"kv_heads", FU_Y_INT, L(n_kv_heads), 0, 1, 1 << 16, 0, "key/value heads"},
    {"head_dim", FU_Y_INT, L(head_dim), 0, 1, 1 << 16, 0, "per-head dimension"},
    {"intermediate_size", FU_Y_INT, L(d_ff), 0, 1, 1 << 24, 0, "MLP width (per expert)"},
    {"vocab_size", FU_Y_INT, L(vocab), 0, 1, 1 << 26, 0, "vocabulary"},
    {"experts", FU_Y_INT, L(n_experts), 0, 0, 1 << 16, 0, "routed experts (0 or 1 = dense)"},
    {"experts_per_token", FU_Y_INT, L(n_experts_active), 0, 0, 1 << 16, 0, "active experts"},
    {"gated_mlp", FU_Y_BOOL, L(gated_mlp), 0, 0, 0, 0, "SwiGLU-style MLP (3 matrices)"},
    {"tied_embeddings", FU_Y_BOOL, L(tied_embeddings), 0, 0, 0, 0, "LM head = embedding"},
    {"weight_bytes", FU_Y_DOUBLE, L(weight_bytes_per_param), 0, 0.0625, 8, 0,
     "bytes per weight (2 bf16, 1 fp8)"},
    {"kv_bytes", FU_Y_DOUBLE, L(kv_bytes_per_elem), 0, 0.5, 8, 0, "bytes per KV element"},
    {"max_model_len", FU_Y_INT, L(max_model_len), 0, 1, 1 << 30, 0, "context window, tokens"},
    {NULL},
};

/* --- applying mappings --- */

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

int fm_accel_from_yaml(fu_ynode map, fm_accel *inout, char **err)
{
    fm_accel a = *inout;
    int rc = fu_yaml_apply(map, "accelerator", accel_fields, accel_caller_keys, &a, err);
    if (rc == 0)
        *inout = a;
    return rc;
}

static void llm_defaults(fm_llm *m)
{
    if (m->n_kv_heads == 0)
        m->n_kv_heads = m->n_heads;
    if (m->head_dim == 0 && m->n_heads > 0)
        m->head_dim = m->d_model / m->n_heads;
    if (m->weight_bytes_per_param == 0)
        m->weight_bytes_per_param = 2;
    if (m->kv_bytes_per_elem == 0)
        m->kv_bytes_per_elem = 2;
}

int fm_llm_from_yaml(fu_ynode map, fm_llm *inout, char **err)
{
    fm_llm m = *inout;
    int rc = fu_yaml_apply(map, "model", llm_fields, llm_caller_keys, &m, err);
    if (rc == 0) {
        llm_defaults(&m);
        *inout = m;
    }
    return rc;
}

/* --- the catalogue --- */

/* An entry and where it was defined ("file:line:col"), for duplicate messages. */
typedef struct accel_entry {
    fm_accel a;
    char *where;
} accel_entry;

typedef struct llm_entry {
    fm_llm m;
    char *where;
} llm_entry;

struct fm_catalog {
    accel_entry *accels;
    size_t n_accels, cap_accels;
    llm_entry *llms;
    size_t n_llms, cap_llms;
};

void fm_catalog_free(fm_catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_accels; i++)
        free(c->accels[i].where);
    for (size_t i = 0; i < c->n_llms; i++)
        free(c->llms[i].where);
    free(c->accels);
    free(c->llms);
    free(c);
}

static const accel_entry *find_accel(const fm_catalog *c, const char *name)
{
    for (size_t i = 0; i < c->n_accels; i++)
        if (strcasecmp(c->accels[i].a.name, name) == 0)
            return &c->accels[i];
    return NULL;
}

static const llm_entry *find_llm(const fm_catalog *c, const char *name)
{
    for (size_t i = 0; i < c->n_llms; i++)
        if (strcasecmp(c->llms[i].m.name, name) == 0)
            return &c->llms[i];
    return NULL;
}

const fm_accel *fm_catalog_accel(const fm_catalog *c, const char *name)
{
    const accel_entry *e = find_accel(c, name);
    return e ? &e->a : NULL;
}

const fm_llm *fm_catalog_llm(const fm_catalog *c, const char *name)
{
    const llm_entry *e = find_llm(c, name);
    return e ? &e->m : NULL;
}

size_t fm_catalog_n_accels(const fm_catalog *c) { return c->n_accels; }
size_t fm_catalog_n_llms(const fm_catalog *c) { return c->n_llms; }

const fm_accel *fm_catalog_accel_at(const fm_catalog *c, size_t i)
{
    return i < c->n_accels ? &c->accels[i].a : NULL;
}

const fm_llm *fm_catalog_llm_at(const fm_catalog *c, size_t i)
{
    return i < c->n_llms ? &c->llms[i].m : NULL;
}

/* Makes room for one more element of `size` bytes in *arr; 0 or -ENOMEM. */
static int grow(void **arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? 2 * *cap : 16;
    void *p = realloc(*arr, ncap * size);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Checks the key of an entry: a string that fits FM_NAME_MAX. */
static int entry_name(fu_ynode key, const char **name, char **err)
{
    *name = fu_ynode_str(key);
    if (!*name || !**name)
        return fail(err, fu_ynode_errf(key, "expected a name as the key"), -EINVAL);
    if (strlen(*name) >= FM_NAME_MAX)
        return fail(err, fu_ynode_errf(key, "name '%s' is longer than %d characters", *name,
                                       FM_NAME_MAX - 1), -EINVAL);
    return 0;
}

/* Rejects keys that a scenario may use but a catalogue entry may not. */
static int no_scenario_keys(fu_ynode entry, char **err)
{
    static const char *const keys[] = {"name", "hf_config", NULL};
    for (const char *const *k = keys; *k; k++) {
        fu_ynode n = fu_ymap_get(entry, *k);
        if (fu_ynode_ok(n))
            return fail(err, fu_ynode_errf(n, "'%s' is not allowed in a catalogue entry (the "
                                              "key is the name; use base: to start from "
                                              "another entry)", *k), -EINVAL);
    }
    return 0;
}

static int unknown_base(fu_ynode b, const char *what, char **err)
{
    const char *name = fu_ynode_str(b);
    return fail(err, fu_ynode_errf(b, "unknown base %s '%s' (a base must be defined earlier: "
                                      "above in the same file, or in a file that sorts "
                                      "before)", what, name ? name : "?"), -EINVAL);
}

/* Starts *a from the entry named by the entry's `base:`, when it has one. */
static int accel_base(const fm_catalog *c, fu_ynode entry, fm_accel *a, char **err)
{
    fu_ynode b = fu_ymap_get(entry, "base");
    if (!fu_ynode_ok(b))
        return 0;
    const accel_entry *e = fu_ynode_str(b) ? find_accel(c, fu_ynode_str(b)) : NULL;
    if (!e)
        return unknown_base(b, "accelerator", err);
    *a = e->a;
    return 0;
}

static int llm_base(const fm_catalog *c, fu_ynode entry, fm_llm *m, char **err)
{
    fu_ynode b = fu_ymap_get(entry, "base");
    if (!fu_ynode_ok(b))
        return 0;
    const llm_entry *e = fu_ynode_str(b) ? find_llm(c, fu_ynode_str(b)) : NULL;
    if (!e)
        return unknown_base(b, "model", err);
    *m = e->m;
    return 0;
}

/* Runs a validator; its message comes out prefixed with the entry's position. */
static int accel_valid(fu_ynode at, const fm_accel *a, char **err)
{
    char *msg = NULL;
    int rc = fm_accel_validate(a, &msg);
    if (rc == 0)
        return 0;
    char *full = fu_ynode_errf(at, "%s", msg ? msg : "invalid accelerator");
    free(msg);
    return fail(err, full, rc);
}

static int llm_valid(fu_ynode at, const fm_llm *m, char **err)
{
    char *msg = NULL;
    int rc = fm_llm_validate(m, &msg);
    if (rc == 0)
        return 0;
    char *full = fu_ynode_errf(at, "%s", msg ? msg : "invalid model");
    free(msg);
    return fail(err, full, rc);
}

static char *where(fu_ynode n)
{
    return fu_asprintf("%s:%d:%d", fu_yaml_name(n.doc), fu_ynode_line(n), fu_ynode_col(n));
}

static int duplicate(fu_ynode key, const char *what, const char *name, const char *first,
                     char **err)
{
    return fail(err, fu_ynode_errf(key, "duplicate %s '%s' (first defined at %s)", what, name,
                                   first), -EINVAL);
}

static int add_accel(fm_catalog *c, fu_ynode key, fu_ynode val, char **err)
{
    const char *name;
    int rc = entry_name(key, &name, err);
    if (rc || (rc = no_scenario_keys(val, err)))
        return rc;
    const accel_entry *old = find_accel(c, name);
    if (old)
        return duplicate(key, "accelerator", name, old->where, err);
    fm_accel a = {0};
    if ((rc = accel_base(c, val, &a, err)))
        return rc;
    snprintf(a.name, sizeof a.name, "%s", name);
    if ((rc = fm_accel_from_yaml(val, &a, err)) || (rc = accel_valid(val, &a, err)))
        return rc;
    if (grow((void **)&c->accels, c->n_accels, &c->cap_accels, sizeof *c->accels))
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    accel_entry *e = &c->accels[c->n_accels];
    if (!(e->where = where(key)))
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    e->a = a;
    c->n_accels++;
    return 0;
}

static int add_llm(fm_catalog *c, fu_ynode key, fu_ynode val, char **err)
{
    const char *name;
    int rc = entry_name(key, &name, err);
    if (rc || (rc = no_scenario_keys(val, err)))
        return rc;
    const llm_entry *old = find_llm(c, name);
    if (old)
        return duplicate(key, "model", name, old->where, err);
    fm_llm m = {0};
    if ((rc = llm_base(c, val, &m, err)))
        return rc;
    snprintf(m.name, sizeof m.name, "%s", name);
    if ((rc = fm_llm_from_yaml(val, &m, err)) || (rc = llm_valid(val, &m, err)))
        return rc;
    if (grow((void **)&c->llms, c->n_llms, &c->cap_llms, sizeof *c->llms))
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    llm_entry *e = &c->llms[c->n_llms];
    if (!(e->where = where(key)))
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    e->m = m;
    c->n_llms++;
    return 0;
}

typedef int (*add_fn)(fm_catalog *c, fu_ynode key, fu_ynode val, char **err);

static int load_section(fm_catalog *c, fu_ynode sec, const char *what, add_fn add, char **err)
{
    if (!fu_ynode_is_map(sec))
        return fail(err, fu_ynode_errf(sec, "expected a mapping of name -> %s", what), -EINVAL);
    for (size_t i = 0; i < fu_ynode_len(sec); i++) {
        int rc = add(c, fu_ymap_key(sec, i), fu_ymap_val(sec, i), err);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_root(fm_catalog *c, fu_ynode root, char **err)
{
    if (!fu_ynode_ok(root))
        return 0; /* an empty file */
    if (!fu_ynode_is_map(root))
        return fail(err, fu_ynode_errf(root, "expected a mapping with accelerators: and/or "
                                             "llms:"), -EINVAL);
    for (size_t i = 0; i < fu_ynode_len(root); i++) {
        fu_ynode k = fu_ymap_key(root, i), v = fu_ymap_val(root, i);
        const char *key = fu_ynode_str(k);
        int rc;
        if (key && strcmp(key, "accelerators") == 0)
            rc = load_section(c, v, "accelerator", add_accel, err);
        else if (key && strcmp(key, "llms") == 0)
            rc = load_section(c, v, "model", add_llm, err);
        else
            rc = fail(err, fu_ynode_errf(k, "unknown key '%s' (expected accelerators or llms)",
                                         key ? key : "?"), -EINVAL);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_file(fm_catalog *c, const char *path, char **err)
{
    fu_yaml *doc;
    int rc = fu_yaml_load_file(path, &doc, err);
    if (rc)
        return rc;
    rc = load_root(c, fu_yaml_root(doc), err);
    fu_yaml_free(doc);
    return rc;
}

static bool is_yaml(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".yaml") == 0;
}

static int yaml_filter(const struct dirent *d) { return is_yaml(d); }

/* Byte order, not the locale's collation, so every machine loads files alike. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int load_files(fm_catalog *c, const char *dir, struct dirent **names, int n, char **err)
{
    for (int i = 0; i < n; i++) {
        char *path = fu_asprintf("%s/%s", dir, names[i]->d_name);
        if (!path)
            return fail(err, fu_asprintf("out of memory"), -ENOMEM);
        int rc = load_file(c, path, err);
        free(path);
        if (rc)
            return rc;
    }
    return 0;
}

int fm_catalog_load_dir(const char *dir, fm_catalog **out, char **err)
{
    struct dirent **names;
    int n = scandir(dir, &names, yaml_filter, by_name);
    if (n < 0) {
        int e = errno;
        return fail(err, fu_asprintf("%s: cannot read catalogue directory: %s", dir, strerror(e)),
                    e == ENOENT ? -ENOENT : -EIO);
    }
    fm_catalog *c = calloc(1, sizeof *c);
    int rc = c ? load_files(c, dir, names, n, err)
               : fail(err, fu_asprintf("out of memory"), -ENOMEM);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc) {
        fm_catalog_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Returns a pointer into a static buffer that the next call overwrites (the value only
 * changes when the environment does). Not thread-safe; called from tools at start-up.
 */
const char *fm_default_catalog_dir(void)
{
    static char buf[4096];
    const char *env = getenv("FLEETSIM_DATADIR");
    if (env && *env) {
        snprintf(buf, sizeof buf, "%s/catalog", env);
        return buf;
    }
    snprintf(buf, sizeof buf, "%s/catalog", FLEETSIM_DATADIR);
    if (!is_dir(buf))
        snprintf(buf, sizeof buf, "%s/models/catalog", FLEETSIM_SRCDIR);
    return buf;
}
