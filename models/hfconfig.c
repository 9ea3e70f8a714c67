/*
 * hfconfig.c: an LLM from a Hugging Face config.json, so that any model on the Hub
 * (or a local checkpoint) can be simulated without writing a catalogue entry.
 *
 * A config.json is a few kilobytes read once; jansson parses it and the keys below
 * are read by name. Architectures differ in key names (num_local_experts for Mixtral
 * and gpt-oss, num_experts for Qwen-MoE, n_routed_experts for DeepSeek), so each
 * quantity tries its known spellings in turn. Not modelled: DeepSeek's MLA and shared
 * experts, dense first layers of some MoE models, sliding-window layers, multimodal
 * configs that nest the language model under text_config.
 */
#include "fm_models.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* A key's value, treating JSON null as absent (configs write "head_dim": null). */
static json_t *get(const json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    return json_is_null(v) ? NULL : v;
}

/*
 * Reads a positive integer at `key` into *out. When absent: -EINVAL with "missing key"
 * if `required`, else 0 with *out untouched.
 */
static int get_int(const json_t *root, const char *key, bool required, int *out,
                   const char *path, char **err)
{
    json_t *v = get(root, key);
    if (!v)
        return required ? fail(err, fu_asprintf("%s: missing key '%s'", path, key), -EINVAL)
                        : 0;
    json_int_t i = json_integer_value(v);
    if (!json_is_integer(v) || i < 1 || i > INT_MAX)
        return fail(err, fu_asprintf("%s: '%s' must be a positive integer", path, key), -EINVAL);
    *out = (int)i;
    return 0;
}

/* The first of `keys` (NULL-terminated) present in root, or NULL. */
static const char *first_key(const json_t *root, const char *const *keys)
{
    for (; *keys; keys++)
        if (get(root, *keys))
            return *keys;
    return NULL;
}

static int read_shape(const json_t *root, fm_llm *m, const char *path, char **err)
{
    int rc;
    if ((rc = get_int(root, "num_hidden_layers", true, &m->n_layers, path, err)) ||
        (rc = get_int(root, "hidden_size", true, &m->d_model, path, err)) ||
        (rc = get_int(root, "num_attention_heads", true, &m->n_heads, path, err)) ||
        (rc = get_int(root, "vocab_size", true, &m->vocab, path, err)) ||
        (rc = get_int(root, "max_position_embeddings", true, &m->max_model_len, path, err)))
        return rc;
    m->n_kv_heads = m->n_heads;
    m->head_dim = m->d_model / m->n_heads;
    if ((rc = get_int(root, "num_key_value_heads", false, &m->n_kv_heads, path, err)) ||
        (rc = get_int(root, "head_dim", false, &m->head_dim, path, err)))
        return rc;
    return 0;
}

static int read_experts(const json_t *root, fm_llm *m, const char *path, char **err)
{
    static const char *const count_keys[] = {"num_local_experts", "num_experts",
                                             "n_routed_experts", NULL};
    const char *ck = first_key(root, count_keys);
    int rc = ck ? get_int(root, ck, true, &m->n_experts, path, err) : 0;
    if (rc)
        return rc;
    bool moe = m->n_experts > 1;
    if (moe && (rc = get_int(root, "num_experts_per_tok", true, &m->n_experts_active, path,
                             err)))
        return rc;
    const char *ff = moe && get(root, "moe_intermediate_size") ? "moe_intermediate_size"
                                                              : "intermediate_size";
    return get_int(root, ff, true, &m->d_ff, path, err);
}

/* SwiGLU-style (3 matrices) for SiLU/Swish activations and Gemma's GeGLU. */
static bool gated(const json_t *root)
{
    static const char *const acts[] = {"silu", "swish", "swiglu", NULL};
    const char *act = json_string_value(get(root, "hidden_act"));
    const char *type = json_string_value(get(root, "model_type"));
    for (const char *const *a = acts; act && *a; a++)
        if (strcasecmp(act, *a) == 0)
            return true;
    return type && strncmp(type, "gemma", 5) == 0;
}

/*
 * Bytes per weight from quantization_config.quant_method, else torch_dtype (or dtype
 * in newer transformers). MXFP4 (gpt-oss) blends 4.25-bit experts with bf16 attention
 * and embeddings: 0.56 bytes is gpt-oss-120b's average. The KV cache follows the
 * activation dtype (vLLM's cache_dtype=auto): 4 for float32 models, else 2.
 */
static void read_dtypes(const json_t *root, fm_llm *m)
{
    const char *dt = json_string_value(get(root, "torch_dtype"));
    if (!dt)
        dt = json_string_value(get(root, "dtype"));
    const char *q = json_string_value(get(get(root, "quantization_config"), "quant_method"));
    bool f32 = dt && strcmp(dt, "float32") == 0;
    m->kv_bytes_per_elem = f32 ? 4 : 2;
    m->weight_bytes_per_param = f32 ? 4 : 2;
    if ((q && strcasecmp(q, "fp8") == 0) || (dt && strncmp(dt, "float8", 6) == 0))
        m->weight_bytes_per_param = 1;
    else if (q && strcasecmp(q, "mxfp4") == 0)
        m->weight_bytes_per_param = 0.56;
}

/* Name: last part of _name_or_path, else the directory of a config.json, else file. */
static void hf_name(const json_t *root, const char *path, char *name)
{
    const char *id = json_string_value(get(root, "_name_or_path"));
    const char *slash = id ? strrchr(id, '/') : NULL;
    if (slash && slash[1])
        id = slash + 1;
    char buf[PATH_MAX];
    if (!id || !*id) {
        snprintf(buf, sizeof buf, "%s", path);
        char *base = basename(buf);
        if (strcmp(base, "config.json") == 0 && realpath(path, buf))
            base = basename(dirname(buf));
        else if (strlen(base) > 5 && strcmp(base + strlen(base) - 5, ".json") == 0)
            base[strlen(base) - 5] = '\0';
        id = base;
    }
    snprintf(name, FM_NAME_MAX, "%s", id);
}

static int load_json(const char *path, json_t **out, char **err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        return fail(err, fu_asprintf("%s: cannot open: %s", path, strerror(e)),
                    e == ENOENT ? -ENOENT : -EIO);
    }
    json_error_t je;
    json_t *root = json_loadf(f, 0, &je);
    fclose(f);
    if (!root)
        return fail(err, fu_asprintf("%s:%d:%d: invalid JSON: %s", path, je.line, je.column,
                                     je.text), -EINVAL);
    if (!json_is_object(root)) {
        json_decref(root);
        return fail(err, fu_asprintf("%s: expected a JSON object", path), -EINVAL);
    }
    *out = root;
    return 0;
}

int fm_llm_from_hf_config(const char *path, fm_llm *out, char **err)
{
    json_t *root;
    int rc = load_json(path, &root, err);
    if (rc)
        return rc;
    fm_llm m = {0};
    if ((rc = read_shape(root, &m, path, err)) == 0 &&
        (rc = read_experts(root, &m, path, err)) == 0) {
        m.gated_mlp = gated(root);
        m.tied_embeddings = json_is_true(get(root, "tie_word_embeddings"));
        read_dtypes(root, &m);
        hf_name(root, path, m.name);
    }
    json_decref(root);
    char *msg = NULL;
    if (rc == 0 && (rc = fm_llm_validate(&m, &msg)) != 0) {
        fail(err, fu_asprintf("%s: %s", path, msg ? msg : "invalid model"), rc);
        free(msg);
    }
    if (rc == 0)
        *out = m;
    return rc;
}
