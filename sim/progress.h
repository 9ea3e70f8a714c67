/*
 * progress.h: a one-line progress bar on a terminal, for long work (a run, a sweep).
 *
 * The caller decides whether to show it (fs_progress_wanted: stderr is a terminal and
 * the user did not ask for quiet); a disabled bar costs one branch per update. Updates
 * are drawn at most ten times a wall-clock second, so a caller may update as often as
 * it likes. The bar reads the wall clock for its rate and estimate; it lives in the
 * tool, never in a policy or the simulation.
 *
 * Ownership: fs_progress is opaque, owned by its creator (fs_progress_free). The
 * stream is borrowed.
 */
#ifndef FS_PROGRESS_H
#define FS_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct fs_progress fs_progress;

/* True when `f` is a terminal and `quiet` is false. */
bool fs_progress_wanted(FILE *f, bool quiet);

/*
 * A bar on `f` counting `unit` (e.g. "requests") up to `total` (0 = unknown: no bar,
 * no estimate). Disabled when `enabled` is false. NULL when out of memory.
 */
fs_progress *fs_progress_new(FILE *f, bool enabled, const char *unit, uint64_t total);
/* Reports `done` units so far and a short detail (may be NULL, e.g. "t=812 s
 * simulated"); redraws when 100 ms have passed since the last drawing. */
void fs_progress_update(fs_progress *p, uint64_t done, const char *detail);
/* The line as it would be drawn now, into buf (for tests and for callers that log). */
void fs_progress_format(const fs_progress *p, uint64_t done, const char *detail,
                        double elapsed_s, char *buf, size_t size);
/* Erases the bar (leaves the terminal as it was) and frees it; accepts NULL. */
void fs_progress_free(fs_progress *p);

#endif
