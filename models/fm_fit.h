/*
 * fm_fit.h: latency models fitted to measurements, and the data they are fitted from
 * (libfleetmodels, GSL).
 *
 * Three things live here:
 *
 * 1. Fit files ("fits"): YAML catalogue files of coefficients that `fleetsim
 *    calibrate` writes and scenarios name with `latency_params:` (bundled ones in
 *    models/fits/). Each entry is keyed by accelerator, model and TP degree and has one
 *    form:
 *      scaled     roofline terms each scaled by a fitted factor plus fixed overheads
 *                 per step, per layer and per sequence (BLIS's "trained physics" idea):
 *                   t = step + seq x n + layer x L + smax_p(lf x T_lf, lw x T_lw)
 *                       + smax_q(af x T_af, kv x T_kv) + comm x T_comm
 *                 where T_lf/T_lw are the linear layers' FLOP and weight-read times
 *                 at the data sheet's peaks, T_af/T_kv attention's FLOP and KV-read
 *                 times, T_comm the TP collectives (fitted when the file has
 *                 collectives for the accelerator), and smax_p(x, y) = (x^p + y^p)^(1/p)
 *                 a soft maximum (p = 0: the hard maximum, which is the roofline).
 *      distserve  DistServe's own coefficients (prefill a + b S + c S2, decode
 *                 a + b T + c B in two batch-size regimes), in milliseconds.
 *      profile    a table of measured per-layer times of the linear layers against
 *                 tokens in the step (vidur's mlp.csv, summed over operators),
 *                 interpolated; attention and the LM head come from the roofline.
 *    A file may also hold `collectives:`: per accelerator, all-reduce and send/recv
 *    times as latency + bytes / bandwidth for each worker count.
 *
 * 2. Readers of measured data: vidur operator and collective profiles (CSV), DistServe
 *    coefficient files (JSON), and the project's own step-time CSV.
 *
 * 3. The fitting routines (GSL nonlinear least squares on relative residuals, weighted
 *    linear least squares for collectives).
 *
 * Workload: fit files hold tens of entries and are read once per replica at start-up;
 * fitting sees thousands of rows. Nothing here is on the simulator's per-step path
 * except fm_scaled_terms()/fm_scaled_eval(), which are O(batch) with no allocation.
 *
 * Ownership: fm_fits and the row arrays of the readers are owned by the caller
 * (fm_fits_free(), free()). Entries added to a fits are deep-copied. Errors: 0 or
 * negative errno with a malloc'd message through `char **err` that names file:line
 * where a file is at fault.
 */
#ifndef FM_FIT_H
#define FM_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fm_latency.h"
#include "fm_models.h"

/* --- collectives (interconnect) --- */

typedef enum fm_coll_kind { FM_COLL_ALL_REDUCE, FM_COLL_SEND_RECV } fm_coll_kind;

#define FM_COLL_MAX 16

/* One fitted collective: time = latency_s + bytes / bw. */
typedef struct fm_coll_fit {
    fm_coll_kind kind;
    int workers;            /* ranks taking part */
    int devices_per_node;   /* ranks per node: == workers within one node */
    double latency_s;
    double bw;              /* bytes of message per second (algorithm bandwidth) */
} fm_coll_fit;

/* The collectives of one accelerator's interconnect. */
typedef struct fm_collectives {
    char accel[FM_NAME_MAX];
    size_t n;
    fm_coll_fit fit[FM_COLL_MAX];
} fm_collectives;

/*
 * Predicted seconds of one collective of `bytes` among `workers` ranks, within one
 * node when in_node (devices_per_node == workers) else across nodes (the fit with the
 * fewest devices per node). A worker count that was not measured uses the nearest
 * measured one, its bandwidth term scaled by the ring factor (w-1)/w and its latency
 * by w-1. Returns -1 when no fit of that kind and placement exists.
 */
double fm_coll_time(const fm_collectives *c, fm_coll_kind kind, int workers, bool in_node,
                    double bytes);

/* One measured collective (vidur network CSV row). */
typedef struct fm_coll_row {
    fm_coll_kind kind;
    int workers, devices_per_node;
    double bytes, time_s;   /* median time */
    int line;
} fm_coll_row;

/* Fit quality: absolute percentage errors on the rows fitted and the rows held back. */
typedef struct fm_fit_quality {
    size_t n_fit, n_held;
    double fit_median_pct, fit_mape_pct, held_median_pct, held_mape_pct, held_max_pct;
} fm_fit_quality;

/*
 * Fits latency + bytes / bandwidth to the rows of one (kind, workers, devices_per_node)
 * group by weighted linear least squares (gsl_multifit_wlinear, weights 1/t^2 so the
 * relative error is minimised), leaving out the rows that fm_fit_held_out() names and
 * reporting both errors in *q (may be NULL). Appends one fit per group to *out (up to
 * FM_COLL_MAX). -EINVAL when a group has fewer than 2 fitted rows or the fit is not
 * physical (negative bandwidth).
 */
int fm_coll_fit_rows(const fm_coll_row *rows, size_t n, fm_collectives *out,
                     fm_fit_quality *q, char **err);

/* The held-out rule shared by calibrate, validate and the tests: every fifth row. */
static inline bool fm_fit_held_out(size_t i) { return i % 5 == 4; }

/* --- the scaled form --- */

typedef struct fm_scaled_coef {
    double step_s;      /* fixed per step */
    double seq_s;       /* per scheduled sequence */
    double layer_s;     /* per layer per step */
    double lin_flops;   /* factor on the linear layers' FLOP time at peak */
    double lin_bytes;   /* factor on the weight-read time at peak bandwidth */
    double lin_p;       /* soft-max exponent of the linear phase; 0 = max */
    double attn_flops;  /* factor on attention's FLOP time */
    double attn_bytes;  /* factor on the KV read/write time */
    double attn_p;      /* soft-max exponent of the attention phase; 0 = max */
    double comm;        /* factor on the TP collectives' time */
} fm_scaled_coef;

/* The raw terms of one step (seconds at data-sheet peaks), what the coefficients scale. */
typedef struct fm_step_terms {
    double seqs, layers;
    double lin_flop_s, lin_byte_s;   /* linear layers (LM head included) */
    double attn_flop_s, attn_byte_s;
    double comm_s;                   /* collectives' bandwidth part (what `comm` scales) */
    double comm_lat_s;               /* collectives' latency part (not scaled) */
} fm_step_terms;

typedef struct fm_scaled_ctx fm_scaled_ctx;

/*
 * Folds the per-replica constants of `m` on `tp` accelerators `a` (validated here:
 * -EINVAL for an invalid entry or TP). `coll` (may be NULL; copied) gives fitted
 * collectives for the TP all-reduces; without it they are ideal rings at the link's
 * data-sheet bandwidth plus its latency.
 */
int fm_scaled_ctx_new(const fm_accel *a, const fm_llm *m, int tp, const fm_collectives *coll,
                      fm_scaled_ctx **out, char **err);
void fm_scaled_ctx_free(fm_scaled_ctx *c);
/* The raw terms of a batch. O(n), no allocation. */
void fm_scaled_terms(const fm_scaled_ctx *c, const fm_seq_work *seqs, size_t n,
                     fm_step_terms *out);
/* The raw terms of one layer's linear part (no LM head, attention or comm) for `tokens`. */
void fm_scaled_layer_terms(const fm_scaled_ctx *c, double tokens, fm_step_terms *out);
/*
 * Step time (s) of the terms under the coefficients; fills *bd when not NULL
 * (overhead = step + seq + layer terms; each phase goes to compute or memory by the
 * larger of its two scaled terms). A step with no sequence (t->seqs == 0 and no
 * tokens) costs step_s only.
 */
double fm_scaled_eval(const fm_scaled_coef *k, const fm_step_terms *t, fm_step_breakdown *bd);
/*
 * The coefficients under which the scaled form on context c (made for accelerator a)
 * is exactly the roofline model of `a`: factors 1/eff, hard maxima, the accelerator's
 * step overhead; comm 1/eff_comm on ideal rings, 1 on fitted collectives.
 */
void fm_scaled_roofline_coef(const fm_scaled_ctx *c, const fm_accel *a, fm_scaled_coef *out);
/* True when the context's TP collectives come from a fit. */
bool fm_scaled_ctx_fitted_comm(const fm_scaled_ctx *c);

/* Coefficients a fit may move (bit mask); the others stay as given. */
enum {
    FM_FIT_STEP = 1 << 0, FM_FIT_SEQ = 1 << 1, FM_FIT_LAYER = 1 << 2,
    FM_FIT_LIN_FLOPS = 1 << 3, FM_FIT_LIN_BYTES = 1 << 4, FM_FIT_LIN_P = 1 << 5,
    FM_FIT_ATTN_FLOPS = 1 << 6, FM_FIT_ATTN_BYTES = 1 << 7, FM_FIT_ATTN_P = 1 << 8,
    FM_FIT_COMM = 1 << 9,
};
/* The coefficient's name in fit files and --free lists ("step_s", "lin_flops", ...). */
const char *fm_scaled_coef_name(unsigned bit);
/* Parses "lin_flops,attn_bytes" into a mask; -EINVAL naming the unknown word. */
int fm_scaled_parse_mask(const char *list, unsigned *mask, char **err);

/*
 * Fits the coefficients in `mask` to measured times y[i] (s) of steps with terms x[i],
 * minimising the sum of squared relative errors (gsl_multifit_nlinear, trust region
 * with Levenberg-Marquardt; factors and exponents in log space so they stay positive,
 * overheads linear and clamped at 0). Rows with held[i] true (held may be NULL) are
 * left out of the fit and reported separately in *q (may be NULL). *k holds the
 * starting point on entry and the result on success; -EINVAL when fewer rows than
 * free coefficients, -EDOM when the solver fails.
 */
int fm_scaled_fit(const fm_step_terms *x, const double *y, const bool *held, size_t n,
                  unsigned mask, fm_scaled_coef *k, fm_fit_quality *q, char **err);

/* --- the distserve form --- */

typedef struct fm_distserve_coef {
    double prefill[3];  /* ms: a + b S + c S2, S = prompt tokens, S2 = sum of squares */
    double small[3];    /* ms: a + b T + c B below the threshold (B = batch size) */
    double large[3];    /* the same at or above it */
    int threshold;      /* decoding_large_small_bs_threshold */
} fm_distserve_coef;

/*
 * DistServe's step time (s) of a batch. A sequence with one new token and context is
 * a decode (T += context + 1, B += 1); any other is a prefill chunk (S += new, S2 +=
 * new x (new + 2 context), the attention work of a chunk over its context). A batch
 * that mixes both pays both polynomials with the fixed term counted once (the larger).
 */
double fm_distserve_eval(const fm_distserve_coef *c, const fm_seq_work *seqs, size_t n);

/* --- fit files --- */

typedef enum fm_fit_form { FM_FORM_SCALED, FM_FORM_DISTSERVE, FM_FORM_PROFILE } fm_fit_form;

typedef struct fm_fit_entry {
    char accel[FM_NAME_MAX], model[FM_NAME_MAX];
    int tp;
    fm_fit_form form;
    fm_scaled_coef scaled;          /* FM_FORM_SCALED */
    fm_distserve_coef ds;           /* FM_FORM_DISTSERVE */
    size_t npoints;                 /* FM_FORM_PROFILE: tokens ascending, distinct */
    double *tokens, *layer_s;       /* owned by the entry */
    char source[256];               /* where the numbers came from */
    fm_fit_quality q;               /* written as a comment-like `fit:` mapping */
    bool has_q;
} fm_fit_entry;

typedef struct fm_fits {
    fm_fit_entry *e;
    size_t n, cap;
    fm_collectives *coll;
    size_t ncoll, capcoll;
    int refs;                       /* private: references (fm_fits_load shares sets) */
    bool shared;                    /* private: loaded, so read-only */
} fm_fits;

/* An empty set; NULL when out of memory. */
fm_fits *fm_fits_new(void);
/*
 * Loads a fit file, or every *.yaml file of a directory in name order. Unknown keys,
 * missing fields, out-of-range numbers and a profile whose tokens are not ascending
 * are errors naming file:line:column. The set is read-only and shared: every replica
 * of a fleet asks for the same file, so the last few sets loaded are kept (keyed by
 * path, inode, size and modification time of every file read, so an edited file is
 * read again) and handed out with a reference that fm_fits_free() drops. Thread-safe.
 */
int fm_fits_load(const char *path, fm_fits **out, char **err);
/* Drops a reference (frees a set from fm_fits_new, or a loaded one no longer shared);
 * accepts NULL. */
void fm_fits_free(fm_fits *f);
/* Deep-copies e (its profile arrays too) / c into a set from fm_fits_new (a loaded set
 * is read-only: asserted); -ENOMEM. A collectives
 * entry for an accelerator already present replaces its fits of the same kind,
 * workers and placement and adds the others. */
int fm_fits_add(fm_fits *f, const fm_fit_entry *e);
int fm_fits_add_coll(fm_fits *f, const fm_collectives *c);
/*
 * The first entry for (accel, model, tp), names compared case-insensitively, whose
 * form is in `forms` (bit mask of 1 << fm_fit_form); NULL when none.
 */
const fm_fit_entry *fm_fits_find(const fm_fits *f, unsigned forms, const char *accel,
                                 const char *model, int tp);
/*
 * Loads `params` (NULL or "" = the bundled fits directory) and finds the entry for a
 * replica of m on tp x a whose form is in `forms`; `what` names the model kind in the
 * message when there is none (which lists the entries the file has). On success the
 * caller frees *fits, which owns *e.
 */
int fm_fits_lookup(const char *params, unsigned forms, const char *what, const fm_accel *a,
                   const fm_llm *m, int tp, fm_fits **fits, const fm_fit_entry **e,
                   char **err);
/*
 * The link a P/D KV transfer takes between two replicas on accelerator `accel`, from
 * the fitted point-to-point send/recv of the fit file `params`: its bandwidth
 * (bytes/s) and latency (s), within a node (in_node) or across nodes. 0 with both
 * written; 1 when the file has no such fit (outputs untouched: keep the data sheet's);
 * negative errno with *err (may be NULL) when the file cannot be read.
 */
int fm_fits_kv_link(const char *params, const char *accel, bool in_node, double *bw,
                    double *latency, char **err);
/* The collectives of accel, NULL when none. */
const fm_collectives *fm_fits_coll(const fm_fits *f, const char *accel);
/* Writes the set as a fit file (YAML, with `comment` lines on top); -EIO. */
int fm_fits_write(const fm_fits *f, FILE *out, const char *comment);
/* The bundled fits directory: $FLEETSIM_DATADIR/fits, the installed one, or the
 * source tree's models/fits. */
const char *fm_default_fits_dir(void);
/* Linear interpolation of a profile entry's per-layer time at `tokens` (clamped at the
 * first point below; extrapolated along the last segment above). */
double fm_profile_interp(const fm_fit_entry *e, double tokens);

/* --- readers of measured data --- */

/* vidur mlp.csv: the model shape of its rows. */
typedef struct fm_vidur_shape {
    int n_head, n_kv_head, n_embd, n_expanded_embd, vocab;
    bool gated;
} fm_vidur_shape;

/* One vidur mlp.csv row: per-layer time of the linear part (operators summed). */
typedef struct fm_mlp_row {
    int tp;
    uint32_t tokens;
    double layer_s;         /* sum of the per-layer operators' median times */
    int line;
} fm_mlp_row;

/*
 * Reads a vidur compute profile (mlp.csv): per row, the medians of every per-layer
 * operator (all time_stats.*.median columns except emb) summed, with num_tokens and
 * num_tensor_parallel_workers. *shape gets the model shape of the first row (all
 * rows must agree). The caller frees *rows.
 */
int fm_vidur_mlp_read(const char *path, fm_mlp_row **rows, size_t *n, fm_vidur_shape *shape,
                      char **err);
/* Reads a vidur network profile (all_reduce.csv or send_recv.csv); median times. */
int fm_vidur_net_read(const char *path, fm_coll_row **rows, size_t *n, char **err);
/* 0 when the vidur shape is that of m (heads, kv heads, hidden, MLP width, gating);
 * -EINVAL naming the first difference. */
int fm_vidur_shape_check(const fm_vidur_shape *s, const fm_llm *m, const char *path,
                         char **err);

/* One model and TP degree of a DistServe profiler file. */
typedef struct fm_distserve_row {
    char model[128];        /* as in the file, e.g. "facebook/opt-13b" */
    int tp;
    fm_distserve_coef c;
} fm_distserve_row;

/* Reads a DistServe profiler JSON ({model: {tp: {prefill, decoding_*}}}). */
int fm_distserve_read(const char *path, fm_distserve_row **rows, size_t *n, char **err);

/*
 * Synthetic batches in DistServe's profiled range, for fitting to and checking against
 * its coefficients: even i gives a prefill batch (1-4 prompts of 16-2048 tokens), odd
 * i a decode batch (1-256 sequences with 16-2048 tokens of context). Deterministic in
 * (seed, i). Writes at most `cap` sequences to seqs; returns how many.
 */
size_t fm_distserve_batch(uint64_t seed, size_t i, fm_seq_work *seqs, size_t cap);

/* One row of the project's step-time CSV (accelerator,model,tp,batch,step_ms). */
typedef struct fm_step_row {
    char accel[FM_NAME_MAX], model[FM_NAME_MAX];
    int tp;
    fm_seq_work *seqs;      /* owned (one allocation per row) */
    size_t nseqs;
    double time_s;
    int line;
} fm_step_row;

/*
 * Reads a step-time CSV with header accelerator,model,tp,batch,step_ms. `batch` is a
 * space-separated list of COUNTxNEW@CONTEXT groups ("1x512@0 32x1@1024": one prompt
 * chunk of 512 tokens, 32 decodes at context 1024). Free with fm_step_rows_free().
 */
int fm_steps_read(const char *path, fm_step_row **rows, size_t *n, char **err);
void fm_step_rows_free(fm_step_row *rows, size_t n);
/* Parses one batch string into a malloc'd array; -EINVAL with a message naming `where`. */
int fm_batch_parse(const char *s, const char *where, fm_seq_work **seqs, size_t *n,
                   char **err);

/* --- calibration drivers (models/calibrate.c) --- */

/*
 * From a vidur mlp.csv of model m profiled on accelerator a: for every TP degree in the
 * file, a scaled entry whose linear-layer coefficients (layer_s, lin_flops, lin_bytes,
 * lin_p) are fitted to the rows not held out (fm_fit_held_out over each TP's rows in
 * file order) and whose other coefficients are the roofline's, and a profile entry
 * made of the same rows (duplicates averaged). Both carry their error on the rows
 * fitted and held out (entry.q). The profile's shape must be m's. Appends to *out;
 * comm is 1 when *out already has collectives for a, else 1/eff_comm.
 */
int fm_calib_vidur_mlp(const char *path, const fm_accel *a, const fm_llm *m, fm_fits *out,
                       char **err);
/* Fits the collectives of a vidur network CSV and adds them to *out under a's name. */
int fm_calib_vidur_net(const char *path, const char *accel, fm_fits *out, fm_fit_quality *q,
                       char **err);
/*
 * From a DistServe profiler file: for every model and TP whose model (the part after
 * the last '/') is in `cat`, either the coefficients themselves (form distserve) or a
 * scaled entry fitted to DistServe's predictions on `batches` synthetic batches
 * (fm_distserve_batch(seed, i); every fifth held out), on accelerator a. Models not
 * in the catalogue are skipped and counted in *skipped (may be NULL).
 */
int fm_calib_distserve(const char *path, const fm_catalog *cat, const fm_accel *a,
                       fm_fit_form form, size_t batches, uint64_t seed, fm_fits *out,
                       size_t *skipped, char **err);
/*
 * From the project's step-time CSV: one scaled entry per (accelerator, model, tp),
 * the coefficients in `mask` fitted (every fifth row of each group held out), the
 * others the roofline's. Accelerators and models are looked up in cat; fitted
 * collectives already in *out are used for the TP term.
 */
int fm_calib_steps(const char *path, const fm_catalog *cat, unsigned mask, fm_fits *out,
                   char **err);

/* Median and mean of |pct| over n values (sorts a copy); 0 for n == 0. */
void fm_pct_stats(const double *pct, size_t n, double *median, double *mean, double *max);

#endif
