/*
 * latency.c: the registry of step-time (latency) models and the handle the engine
 * holds. Implementations are a const table of operations plus private state, found
 * by name, like SQLite's VFS list; adding a model means adding a row here.
 *
 * fm_latency_step() is called once per simulated step, so it is one indirect call
 * with no checks beyond an assert.
 */
#include "fm_latency.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const fm_latency_ops *const registry[] = {
    &fm_roofline_ops,
    &fm_fitted_ops,
    &fm_profile_ops,
};
#define NREGISTRY (sizeof registry / sizeof registry[0])

struct fm_latency {
    const fm_latency_ops *ops;
    void *self;
};

const fm_latency_ops *fm_latency_find(const char *name)
{
    for (size_t i = 0; i < NREGISTRY; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const fm_latency_ops *fm_latency_at(size_t i) { return i < NREGISTRY ? registry[i] : NULL; }

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* "a, b" of the registered names, for the unknown-kind message; NULL when out of memory. */
static char *known_names(void)
{
    size_t len = 1;
    for (size_t i = 0; i < NREGISTRY; i++)
        len += strlen(registry[i]->name) + 2;
    char *s = calloc(1, len);
    for (size_t i = 0; s && i < NREGISTRY; i++)
        strcat(strcat(s, i ? ", " : ""), registry[i]->name);
    return s;
}

int fm_latency_new(const char *kind, const fm_accel *a, const fm_llm *m, int tp,
                   fm_latency **out, char **err)
{
    return fm_latency_new_with(kind, a, m, tp, NULL, out, err);
}

int fm_latency_new_with(const char *kind, const fm_accel *a, const fm_llm *m, int tp,
                        const char *params, fm_latency **out, char **err)
{
    const fm_latency_ops *ops = fm_latency_find(kind);
    if (!ops) {
        char *known = known_names();
        int rc = fail(err, fu_asprintf("unknown latency model '%s' (known: %s)", kind,
                                       known ? known : "?"), -EINVAL);
        free(known);
        return rc;
    }
    fm_latency *l = malloc(sizeof *l);
    if (!l)
        return fail(err, fu_asprintf("out of memory"), -ENOMEM);
    bool with = params && *params;
    if (with && !ops->create_with) {
        free(l);
        return fail(err, fu_asprintf("latency model '%s' takes no parameter file", kind),
                    -EINVAL);
    }
    int rc = with ? ops->create_with(a, m, tp, params, &l->self, err)
                  : ops->create(a, m, tp, &l->self, err);
    if (rc) {
        free(l);
        return rc;
    }
    l->ops = ops;
    *out = l;
    return 0;
}

void fm_latency_free(fm_latency *l)
{
    if (!l)
        return;
    l->ops->destroy(l->self);
    free(l);
}

double fm_latency_step(fm_latency *l, const fm_seq_work *seqs, size_t n, fm_step_breakdown *bd)
{
    assert(l && (seqs || n == 0));
    return l->ops->step_time(l->self, seqs, n, bd);
}
