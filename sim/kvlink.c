/*
 * kvlink.c: processor-sharing links for P/D KV transfers (see kvlink.h).
 *
 * Transfers in flight on one link are few (tens at most), so they sit in a small array
 * scanned on each change; progress is applied lazily, when the time moves.
 */
#include "kvlink.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

typedef struct flow {
    double left;        /* bytes still to move */
    void *data;
} flow;

struct fs_kvlink {
    double bw;          /* bytes per second */
    fs_ns last;         /* time up to which progress was applied */
    flow *flows;
    size_t n, cap;
};

fs_kvlink *fs_kvlink_new(double bw)
{
    fs_kvlink *l = calloc(1, sizeof *l);
    if (l)
        l->bw = bw;
    return l;
}

void fs_kvlink_free(fs_kvlink *l)
{
    if (!l)
        return;
    free(l->flows);
    free(l);
}

/* Applies the progress of every flow from l->last to now at the equal share. */
static void advance(fs_kvlink *l, fs_ns now)
{
    if (l->n > 0 && now > l->last) {
        double moved = (double)(now - l->last) / 1e9 * l->bw / (double)l->n;
        for (size_t i = 0; i < l->n; i++)
            l->flows[i].left -= moved;
    }
    if (now > l->last)
        l->last = now;
}

int fs_kvlink_start(fs_kvlink *l, fs_ns now, double bytes, void *data)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        flow *f = realloc(l->flows, cap * sizeof *f);
        if (!f)
            return -ENOMEM;
        l->flows = f;
        l->cap = cap;
    }
    advance(l, now);
    l->flows[l->n++] = (flow){bytes > 0 ? bytes : 0, data};
    return 0;
}

fs_ns fs_kvlink_next(const fs_kvlink *l, fs_ns now)
{
    if (l->n == 0)
        return FS_NS_MAX;
    double share = l->bw / (double)l->n, least = INFINITY;
    double since = now > l->last ? (double)(now - l->last) / 1e9 * share : 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->flows[i].left < least)
            least = l->flows[i].left;
    double s = (least - since) / share;
    return now + (s > 0 ? (fs_ns)ceil(s * 1e9) : 0);
}

void *fs_kvlink_take_done(fs_kvlink *l, fs_ns now)
{
    advance(l, now);
    /* A flow is done when what is left would take under a nanosecond: event times are
     * whole nanoseconds, rounded up. */
    double eps = l->bw * 1e-9 * 1.5;
    for (size_t i = 0; i < l->n; i++) {
        if (l->flows[i].left <= eps) {
            void *data = l->flows[i].data;
            l->flows[i] = l->flows[--l->n];
            return data;
        }
    }
    return NULL;
}

size_t fs_kvlink_active(const fs_kvlink *l) { return l->n; }
