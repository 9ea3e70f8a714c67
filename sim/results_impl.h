/*
 * results_impl.h: what results.c and results_read.c share and nobody else sees: the
 * database handle and small SQLite helpers (internal prefix fsr_).
 */
#ifndef FS_RESULTS_IMPL_H
#define FS_RESULTS_IMPL_H

#include "results.h"

struct fs_results {
    sqlite3 *h;
    char *path;
};

/* Sets *err (when err is not NULL) to "PATH: what: SQLite's message"; returns -EIO. */
int fsr_fail(fs_results *db, char **err, const char *what);
/* sqlite3_exec with the message in *err (may be NULL); 0 or -EIO. */
int fsr_exec(fs_results *db, const char *sql, char **err);
/* Runs one statement with ?1 = id and ?2 = text (skipped when NULL); 0 or -EIO. */
int fsr_exec_bound(fs_results *db, const char *sql, int64_t id, const char *text,
                   char **err);

#endif
