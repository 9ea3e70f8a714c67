/*
 * collective.c: the interconnect model: all-reduce and send/recv times fitted from
 * measured collective profiles (vidur's network CSVs), used for tensor-parallel
 * all-reduces in every latency model and for KV transfers between replicas.
 *
 * Each (collective, worker count, devices per node) gets time = latency + bytes /
 * bandwidth, fitted by weighted linear least squares with weights 1/t^2, so the fit
 * minimises relative error and a 2 KiB message counts as much as a 64 MiB one. Within
 * a node (devices_per_node == workers) and across nodes are kept apart: the measured
 * bandwidths differ by an order of magnitude (A100 DGX: ~100 GB/s in-node, ~9 GB/s
 * across 2 nodes).
 *
 * Rejected: one fit per collective with the ring formula's worker dependence built in
 * (2(w-1)/w x size / bw + 2(w-1) x latency). NCCL picks different algorithms (ring,
 * tree, NVLS) per size and worker count, and the measured H100 in-node bandwidth at 4
 * and 8 workers is nearly the same, which the ring formula would not reproduce. The
 * ring factor is used only to extrapolate to worker counts that were not measured.
 *
 * Workload: fits are made once (calibrate); fm_coll_time() is called at replica
 * creation, O(number of fits). fm_fits_kv_link() gives the cluster's P/D KV links
 * their fitted send/recv bandwidth and latency, once per replica.
 */
#include "fm_fit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>

static int fail(char **err, char *msg, int rc)
{
    if (err)
        *err = msg;
    else
        free(msg);
    return rc;
}

/* How well fit f's placement matches the request: exact workers first, then nearest. */
static int distance(const fm_coll_fit *f, int workers)
{
    return abs(f->workers - workers);
}

static bool placement_ok(const fm_coll_fit *f, bool in_node)
{
    return in_node ? f->devices_per_node >= f->workers : f->devices_per_node < f->workers;
}

static const fm_coll_fit *pick(const fm_collectives *c, fm_coll_kind kind, int workers,
                               bool in_node)
{
    const fm_coll_fit *best = NULL;
    for (size_t i = 0; i < c->n; i++) {
        const fm_coll_fit *f = &c->fit[i];
        if (f->kind != kind || !placement_ok(f, in_node))
            continue;
        if (!best || distance(f, workers) < distance(best, workers) ||
            (distance(f, workers) == distance(best, workers) &&
             f->devices_per_node < best->devices_per_node))
            best = f;
    }
    return best;
}

double fm_coll_time(const fm_collectives *c, fm_coll_kind kind, int workers, bool in_node,
                    double bytes)
{
    const fm_coll_fit *f = c ? pick(c, kind, workers, in_node) : NULL;
    if (!f)
        return -1;
    double bw_scale = 1, lat_scale = 1;
    if (kind == FM_COLL_ALL_REDUCE && f->workers != workers && f->workers > 1 && workers > 1) {
        bw_scale = ((workers - 1.0) / workers) / ((f->workers - 1.0) / f->workers);
        lat_scale = (workers - 1.0) / (f->workers - 1.0);
    }
    return f->latency_s * lat_scale + bytes / f->bw * bw_scale;
}

/* --- fitting --- */

static bool same_group(const fm_coll_row *a, const fm_coll_row *b)
{
    return a->kind == b->kind && a->workers == b->workers &&
           a->devices_per_node == b->devices_per_node;
}

/* Weighted least squares of t = c0 + c1 x bytes over the fitted rows of one group. */
static int fit_group(const fm_coll_row *rows, size_t n, const fm_coll_row *g,
                     fm_coll_fit *out)
{
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        if (same_group(&rows[i], g) && !fm_fit_held_out(k++))
            m++;
    if (m < 2)
        return -EINVAL;
    gsl_matrix *X = gsl_matrix_alloc(m, 2), *cov = gsl_matrix_alloc(2, 2);
    gsl_vector *y = gsl_vector_alloc(m), *w = gsl_vector_alloc(m), *c = gsl_vector_alloc(2);
    gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc(m, 2);
    int rc = -ENOMEM;
    if (X && cov && y && w && c && ws) {
        size_t j = 0;
        k = 0;
        for (size_t i = 0; i < n; i++) {
            if (!same_group(&rows[i], g) || fm_fit_held_out(k++))
                continue;
            gsl_matrix_set(X, j, 0, 1);
            gsl_matrix_set(X, j, 1, rows[i].bytes);
            gsl_vector_set(y, j, rows[i].time_s);
            gsl_vector_set(w, j++, 1 / (rows[i].time_s * rows[i].time_s));
        }
        double chisq;
        rc = gsl_multifit_wlinear(X, w, y, c, cov, &chisq, ws) ? -EDOM : 0;
        double c0 = gsl_vector_get(c, 0), c1 = gsl_vector_get(c, 1);
        if (rc == 0 && c0 < 0) { /* no negative latency: refit through the origin */
            double sxy = 0, sxx = 0;
            for (size_t i = 0; i < m; i++) {
                double xi = gsl_matrix_get(X, i, 1), wi = gsl_vector_get(w, i);
                sxy += wi * xi * gsl_vector_get(y, i);
                sxx += wi * xi * xi;
            }
            c0 = 0;
            c1 = sxx > 0 ? sxy / sxx : 0;
        }
        if (rc == 0 && !(c1 > 0))
            rc = -EDOM;
        *out = (fm_coll_fit){.kind = g->kind, .workers = g->workers,
                             .devices_per_node = g->devices_per_node,
                             .latency_s = c0, .bw = c1 > 0 ? 1 / c1 : 0};
    }
    gsl_multifit_linear_free(ws);
    gsl_matrix_free(X);
    gsl_matrix_free(cov);
    gsl_vector_free(y);
    gsl_vector_free(w);
    gsl_vector_free(c);
    return rc;
}

static void coll_quality(const fm_coll_row *rows, size_t n, const fm_collectives *c,
                         size_t first_fit, fm_fit_quality *q)
{
    double *e = malloc((n ? n : 1) * sizeof *e);
    size_t nf = 0, nh = n, seen[FM_COLL_MAX] = {0}; /* rows met so far per group */
    if (!e)
        return;
    for (size_t i = 0; i < n; i++) {
        const fm_coll_row *r = &rows[i];
        size_t f = first_fit;
        while (f < c->n && !(c->fit[f].kind == r->kind && c->fit[f].workers == r->workers &&
                             c->fit[f].devices_per_node == r->devices_per_node))
            f++;
        if (f == c->n)
            continue;
        double pct = 100 * ((c->fit[f].latency_s + r->bytes / c->fit[f].bw) / r->time_s - 1);
        if (fm_fit_held_out(seen[f]++))
            e[--nh] = pct;
        else
            e[nf++] = pct;
    }
    *q = (fm_fit_quality){.n_fit = nf, .n_held = n - nh};
    fm_pct_stats(e, nf, &q->fit_median_pct, &q->fit_mape_pct, NULL);
    fm_pct_stats(e + nh, n - nh, &q->held_median_pct, &q->held_mape_pct, &q->held_max_pct);
    free(e);
}

int fm_coll_fit_rows(const fm_coll_row *rows, size_t n, fm_collectives *out,
                     fm_fit_quality *q, char **err)
{
    fm_collectives c = *out;
    size_t first = c.n;
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = same_group(&rows[j], &rows[i]);
        if (seen)
            continue;
        if (c.n == FM_COLL_MAX)
            return fail(err, fu_asprintf("more than %d collective groups", FM_COLL_MAX),
                        -EINVAL);
        int rc = fit_group(rows, n, &rows[i], &c.fit[c.n]);
        if (rc)
            return fail(err, fu_asprintf("line %d: cannot fit latency + size / bandwidth to "
                                         "%s with %d workers (%d per node): %s", rows[i].line,
                                         rows[i].kind == FM_COLL_ALL_REDUCE ? "all_reduce"
                                                                            : "send_recv",
                                         rows[i].workers, rows[i].devices_per_node,
                                         rc == -EINVAL ? "fewer than 2 rows"
                                                       : "no positive bandwidth"), rc);
        c.n++;
    }
    if (q)
        coll_quality(rows, n, &c, first, q);
    *out = c;
    return 0;
}

int fm_fits_kv_link(const char *params, const char *accel, bool in_node, double *bw,
                    double *latency, char **err)
{
    fm_fits *f;
    int rc = fm_fits_load(params, &f, err);
    if (rc)
        return rc;
    const fm_collectives *c = fm_fits_coll(f, accel);
    double t0 = fm_coll_time(c, FM_COLL_SEND_RECV, 2, in_node, 0), probe = 1 << 20;
    double slope = t0 >= 0 ? (fm_coll_time(c, FM_COLL_SEND_RECV, 2, in_node, probe) - t0) / probe
                           : 0;
    rc = 1;
    if (t0 >= 0 && slope > 0) {
        *bw = 1 / slope;
        *latency = t0;
        rc = 0;
    }
    fm_fits_free(f);
    return rc;
}
