/*
 * fuzz_util.h: what the fuzz targets share: stopping on a broken promise, and the
 * bundled catalogue loaded once per process. Static inline, so that the corpus tests,
 * which include several targets in one file, include it once (guarded) and a target
 * that never loads the catalogue links nothing of models/.
 */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "fm_models.h"

#ifndef FUZZ_CATALOG_DIR
#define FUZZ_CATALOG_DIR "models/catalog"
#endif

/* Stops the process when ok is false, naming the promise (libFuzzer reports the
   abort with the input; a corpus test fails). */
#define FUZZ_REQUIRE(ok, what, detail) fuzz_require(__FILE__, (ok), (what), (detail))

static inline void fuzz_require(const char *target, int ok, const char *what,
                                const char *detail)
{
    if (ok)
        return;
    fprintf(stderr, "%s: broken promise: %s%s%s\n", target, what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

/* The bundled catalogue, loaded once for the process and never freed (the fuzzer's
   leak check is about what one input leaves behind). Aborts when it does not load. */
static inline const fm_catalog *fuzz_catalog(void)
{
    static fm_catalog *cat;
    char *err = NULL;
    if (!cat && fm_catalog_load_dir(FUZZ_CATALOG_DIR, &cat, &err) != 0) {
        fprintf(stderr, "fuzz: catalogue %s: %s\n", FUZZ_CATALOG_DIR, err);
        abort();
    }
    return cat;
}

#endif
