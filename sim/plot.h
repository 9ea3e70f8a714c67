/*
 * plot.h: pictures of stored runs, for `fleetsim plot` and `fleetsim report`.
 *
 * For a set of runs in a results database, writes the data of each plot as a TSV file
 * into a directory and renders it with the checked-in gnuplot script of the same name
 * (plots/NAME.gp), run as a child process (`gnuplot -e "datafile='...'; ..."
 * plots/NAME.gp`, posix_spawn) whose exit status is checked; the core never pipes
 * commands into gnuplot. The plots:
 *   cdf               CDFs of TTFT, TPOT and E2E across the runs (needs request rows)
 *   timeline-ID       latency over time with the arrival rate, per run (request rows)
 *   replicas-ID       per-replica load, KV usage and output tokens/s over time, per run
 *   sweep             throughput against TTFT and TPOT across the runs
 *   cost              cost per million tokens by configuration (runs with a price)
 * A plot whose data is missing (a run stored with --no-requests, a fleet without a
 * price) is skipped with a note, not an error.
 *
 * The scripts are found in $FLEETSIM_PLOTS, else the installed data directory, else
 * the source tree; gnuplot is $FLEETSIM_GNUPLOT, else `gnuplot` on the PATH.
 *
 * Ownership: everything passed is borrowed; *made is a new JSON array of objects
 * {"plot", "data", "png", "svg"} (paths) the caller releases. Errors: 0 or negative
 * errno with a malloc'd message (a directory that cannot be written, gnuplot missing
 * or failing: its messages are in the message).
 */
#ifndef FS_PLOT_H
#define FS_PLOT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "results.h"

typedef struct fs_plot_opts {
    bool png, svg;          /* formats to render (at least one) */
    FILE *notes;            /* where skipped plots are explained; NULL = nowhere */
} fs_plot_opts;

/* Renders the plots of runs ids[0..n) (n >= 1) into `dir` (created if needed). */
int fs_plot_render(fs_results *db, const int64_t *ids, int n, const char *dir,
                   const fs_plot_opts *o, json_t **made, char **err);

/* The directory holding the .gp scripts (see above); never NULL. */
const char *fs_plot_scripts_dir(void);

#endif
