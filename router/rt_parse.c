/*
 * rt_parse.c: the router's parsers of untrusted text: Prometheus pages scraped from
 * model servers, OpenAI request bodies, and the endpoints file.
 *
 * Workload assumed: a vLLM /metrics page (a few kB, tens of families) per endpoint every
 * 50 ms, so the Prometheus reader scans lines once and looks only at the four families
 * the router needs; it does not build a model of the page. (Rejected: a general
 * exposition-format parser; nothing else in the router would use it.) Bodies are
 * parsed with jansson; prompts are hashed as llm-d's "estimate" tokenizer sees them.
 */
#include "rt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_yaml.h"

static void set_err(char **err, char *msg)
{
    if (err)
        *err = msg;
    else
        free(msg);
}

/* ------------------------------------------------------------------ Prometheus */

typedef struct prom_acc {
    double waiting, running, kv_sum;
    int n_waiting, n_running, n_kv;
    uint32_t block_size, num_blocks;
} prom_acc;

/* Value of label `key` inside "{...}" into buf; false when absent. */
static bool prom_label(const char *lb, const char *le, const char *key, char *buf,
                       size_t bl)
{
    size_t kl = strlen(key);
    for (const char *p = lb; p && p + kl + 2 < le; p++) {
        if ((p == lb || p[-1] == '{' || p[-1] == ',' || p[-1] == ' ') &&
            strncmp(p, key, kl) == 0 && p[kl] == '=' && p[kl + 1] == '"') {
            const char *v = p + kl + 2, *q = memchr(v, '"', (size_t)(le - v));
            if (!q || (size_t)(q - v) >= bl)
                return false;
            memcpy(buf, v, (size_t)(q - v));
            buf[q - v] = '\0';
            return true;
        }
    }
    return false;
}

static bool prom_u32_label(const char *lb, const char *le, const char *key, uint32_t *out)
{
    char buf[32], *end;
    if (!prom_label(lb, le, key, buf, sizeof buf))
        return false;
    errno = 0;
    unsigned long v = strtoul(buf, &end, 10);
    if (errno || *end || end == buf || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* One sample line "name{labels} value [ts]"; returns -EINVAL on a bad value. */
static int prom_line(const char *l, const char *e, prom_acc *a)
{
    const char *nend = l;
    while (nend < e && *nend != '{' && *nend != ' ' && *nend != '\t')
        nend++;
    const char *lb = NULL, *le = NULL, *v = nend;
    if (nend < e && *nend == '{') {
        lb = nend;
        le = memchr(nend, '}', (size_t)(e - nend));
        if (!le)
            return -EINVAL;
        v = le + 1;
    }
    size_t nl = (size_t)(nend - l);
#define IS(s) (nl == sizeof(s) - 1 && memcmp(l, s, nl) == 0)
    int which = IS("vllm:num_requests_waiting") ? 1 : IS("vllm:num_requests_running") ? 2
              : (IS("vllm:kv_cache_usage_perc") || IS("vllm:gpu_cache_usage_perc")) ? 3
              : IS("vllm:cache_config_info") ? 4 : 0;
#undef IS
    if (which == 0)
        return 0;
    if (which == 4) {
        if (lb) {
            prom_u32_label(lb, le, "block_size", &a->block_size);
            prom_u32_label(lb, le, "num_gpu_blocks", &a->num_blocks);
        }
        return 0;
    }
    char num[64];
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    size_t k = 0;
    while (v < e && *v != ' ' && *v != '\t' && k + 1 < sizeof num)
        num[k++] = *v++;
    num[k] = '\0';
    char *end;
    double x = strtod(num, &end);
    if (k == 0 || *end || !isfinite(x) || x < 0)
        return -EINVAL;
    if (which == 1)
        a->waiting += x, a->n_waiting++;
    else if (which == 2)
        a->running += x, a->n_running++;
    else
        a->kv_sum += x, a->n_kv++;
    return 0;
}

int rt_prom_parse(const char *text, size_t len, fp_metrics *m, char **err)
{
    prom_acc a = {0};
    const char *p = text, *end = text + len;
    size_t lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        if (e > p && *p != '#' && prom_line(p, e, &a) < 0) {
            set_err(err, fu_asprintf("metrics line %zu: expected a non-negative number "
                                     "after the series name", lineno));
            return -EINVAL;
        }
        p = nl ? nl + 1 : end;
    }
    if (a.n_waiting == 0 && a.n_running == 0) {
        set_err(err, fu_asprintf("metrics: neither vllm:num_requests_waiting nor "
                                 "vllm:num_requests_running found"));
        return -EINVAL;
    }
    m->waiting = a.waiting > INT32_MAX ? INT32_MAX : (int32_t)a.waiting;
    m->running = a.running > INT32_MAX ? INT32_MAX : (int32_t)a.running;
    double kv = a.n_kv ? a.kv_sum / a.n_kv : 0;
    m->kv_usage = kv > 1 ? 1 : kv;
    m->block_size = a.block_size;
    m->num_blocks = a.num_blocks;
    return 0;
}

/* ------------------------------------------------------------------ request bodies */

void rt_body_free(rt_body *b)
{
    json_decref(b->root);
    free(b->text);
    memset(b, 0, sizeof *b);
}

/* The completion prompt as text: a string, or an array of strings joined (token-id
   arrays are serialised as JSON, which still gives equal text for equal prompts). */
static char *prompt_text(json_t *prompt)
{
    if (json_is_string(prompt))
        return strdup(json_string_value(prompt));
    if (!json_is_array(prompt))
        return NULL;
    return json_dumps(prompt, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int body_fields(rt_body *b, bool chat, char **err)
{
    json_t *r = b->root, *v;
    v = json_object_get(r, "model");
    b->model = json_is_string(v) ? json_string_value(v) : "";
    v = json_object_get(r, "cache_salt");
    b->cache_salt = json_is_string(v) ? json_string_value(v) : NULL;
    v = json_object_get(r, "stream");
    if (v && !json_is_boolean(v) && !json_is_null(v)) {
        set_err(err, fu_asprintf("body: \"stream\" must be true or false"));
        return -EINVAL;
    }
    b->stream = json_is_true(v);
    v = json_object_get(r, "max_tokens");
    if (!v)
        v = json_object_get(r, "max_completion_tokens");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > UINT32_MAX) {
            set_err(err, fu_asprintf("body: \"max_tokens\" must be a positive integer"));
            return -EINVAL;
        }
        b->max_tokens = (uint32_t)json_integer_value(v);
    }
    if (chat) {
        v = json_object_get(r, "messages");
        if (!json_is_array(v) || json_array_size(v) == 0) {
            set_err(err, fu_asprintf("body: \"messages\" must be a non-empty array"));
            return -EINVAL;
        }
        b->text = json_dumps(v, JSON_COMPACT);
    } else {
        v = json_object_get(r, "prompt");
        if (!json_is_string(v) && !json_is_array(v)) {
            set_err(err, fu_asprintf("body: \"prompt\" must be a string or an array"));
            return -EINVAL;
        }
        b->text = prompt_text(v);
    }
    if (!b->text) {
        set_err(err, fu_asprintf("body: out of memory"));
        return -ENOMEM;
    }
    b->text_len = strlen(b->text);
    return 0;
}

int rt_body_parse(const char *buf, size_t len, bool chat, rt_body *b, char **err)
{
    json_error_t je;
    memset(b, 0, sizeof *b);
    b->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!b->root) {
        set_err(err, fu_asprintf("body:%d:%d: %s", je.line, je.column, je.text));
        return -EINVAL;
    }
    if (!json_is_object(b->root)) {
        rt_body_free(b);
        set_err(err, fu_asprintf("body: expected a JSON object"));
        return -EINVAL;
    }
    int rc = body_fields(b, chat, err);
    if (rc < 0)
        rt_body_free(b);
    return rc;
}

/* ------------------------------------------------------------------ endpoints file */

int rt_split_hostport(const char *addr, char **host, uint16_t *port)
{
    const char *c = strrchr(addr, ':');
    if (!c || c == addr)
        return -EINVAL;
    char *end;
    errno = 0;
    long p = strtol(c + 1, &end, 10);
    if (errno || *end || end == c + 1 || p < 1 || p > 65535)
        return -EINVAL;
    *host = strndup(addr, (size_t)(c - addr));
    if (!*host)
        return -ENOMEM;
    *port = (uint16_t)p;
    return 0;
}

void rt_epdesc_free(rt_epdesc *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++) {
        free(d[i].name);
        free(d[i].address);
        free(d[i].host);
        for (size_t j = 0; j < d[i].nlabels; j++) {
            free((char *)d[i].labels[j].key);
            free((char *)d[i].labels[j].value);
        }
        free(d[i].labels);
    }
    free(d);
}

static int ep_labels(fu_ynode lm, rt_epdesc *d, char **err)
{
    if (!fu_ynode_ok(lm))
        return 0;
    if (!fu_ynode_is_map(lm)) {
        set_err(err, fu_ynode_errf(lm, "expected a mapping of label: value"));
        return -EINVAL;
    }
    size_t n = fu_ynode_len(lm);
    d->labels = calloc(n ? n : 1, sizeof *d->labels);
    if (!d->labels)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *k = fu_ynode_str(fu_ymap_key(lm, i)), *v = fu_ynode_str(fu_ymap_val(lm, i));
        if (!k || !v) {
            set_err(err, fu_ynode_errf(fu_ymap_val(lm, i), "expected a string label value"));
            return -EINVAL;
        }
        d->labels[i].key = strdup(k);
        d->labels[i].value = strdup(v);
        d->nlabels++;
        if (!d->labels[i].key || !d->labels[i].value)
            return -ENOMEM;
    }
    return 0;
}

static int ep_one(fu_ynode it, rt_epdesc *all, size_t i, char **err)
{
    static const char *const keys[] = {"name", "address", "labels", NULL};
    rt_epdesc *d = &all[i];
    if (!fu_ynode_is_map(it)) {
        set_err(err, fu_ynode_errf(it, "expected a mapping {name, address, labels}"));
        return -EINVAL;
    }
    for (size_t k = 0; k < fu_ynode_len(it); k++) {
        const char *key = fu_ynode_str(fu_ymap_key(it, k));
        size_t j = 0;
        while (keys[j] && (!key || strcmp(keys[j], key) != 0))
            j++;
        if (!keys[j]) {
            set_err(err, fu_ynode_errf(fu_ymap_key(it, k),
                                       "unknown key (expected name, address or labels)"));
            return -EINVAL;
        }
    }
    const char *name = fu_ynode_str(fu_ymap_get(it, "name"));
    const char *addr = fu_ynode_str(fu_ymap_get(it, "address"));
    if (!name || !*name || !addr) {
        set_err(err, fu_ynode_errf(it, "expected a non-empty name and an address"));
        return -EINVAL;
    }
    for (size_t j = 0; j < i; j++)
        if (strcmp(all[j].name, name) == 0) {
            set_err(err, fu_ynode_errf(fu_ymap_get(it, "name"), "duplicate endpoint name"));
            return -EINVAL;
        }
    d->name = strdup(name);
    d->address = strdup(addr);
    if (!d->name || !d->address)
        return -ENOMEM;
    if (rt_split_hostport(addr, &d->host, &d->port) < 0) {
        set_err(err, fu_ynode_errf(fu_ymap_get(it, "address"),
                                   "expected host:port with a port in 1..65535"));
        return -EINVAL;
    }
    return ep_labels(fu_ymap_get(it, "labels"), d, err);
}

int rt_endpoints_load(const char *path, rt_epdesc **out, size_t *n, char **err)
{
    fu_yaml *doc;
    int rc = fu_yaml_load_file(path, &doc, err);
    if (rc < 0)
        return rc;
    fu_ynode root = fu_yaml_root(doc);
    size_t cnt = fu_ynode_len(root);
    rt_epdesc *d = NULL;
    if (!fu_ynode_is_seq(root)) {
        set_err(err, fu_ynode_errf(root, "expected a list of endpoints"));
        rc = -EINVAL;
    } else if (!(d = calloc(cnt ? cnt : 1, sizeof *d))) {
        rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < cnt; i++)
        rc = ep_one(fu_yseq_item(root, i), d, i, err);
    fu_yaml_free(doc);
    if (rc < 0) {
        rt_epdesc_free(d, cnt);
        return rc;
    }
    *out = d;
    *n = cnt;
    return 0;
}
