/*
 * shared_data.h: cmocka tests that read ../shared/data (public traces and measured
 * hardware data kept beside the repository, never in it) run only where it is present.
 *
 * cmocka 1.1's skip() prints "not ok N # SKIP" in TAP mode, which Automake's TAP driver
 * counts as a failure; so instead of skipping at run time, such a test is registered
 * with FS_SHARED_TEST and left out of its group (with a TAP comment saying why) when
 * the folder is absent, as in `make distcheck` or a checkout without shared/.
 */
#ifndef FS_SHARED_DATA_H
#define FS_SHARED_DATA_H

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

static inline bool fs_shared_data_present(const char *name)
{
    if (access(TOP_SRCDIR "/../shared/data", R_OK) == 0)
        return true;
    printf("# %s left out: ../shared/data is not beside the source tree\n", name);
    return false;
}

/* A CMUnitTest entry that runs only when ../shared/data is present. */
#define FS_SHARED_TEST(f) \
    { #f, fs_shared_data_present(#f) ? (f) : NULL, NULL, NULL, NULL }

#endif
