/*
 * replicate_cmd.c: `fleetsim run --replications N` (replicate.h), in the tool rather than
 * in libfleetsim because it loads the scenario the way every simulating command does
 * (runcommon.c) and prints a progress line on a terminal.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replicate.h"
#include "runcommon.h"

static void show_progress(void *ctx, int done)
{
    const int *n = ctx;
    fprintf(stderr, "\rreplication %d/%d", done, *n);
    if (done == *n)
        fputc('\n', stderr);
}

int fs_replicate_cmd(const char *cmd, const char *path, const struct fs_run_opts *ro, int n,
                     bool json)
{
    fs_scenario sc;
    fs_replication r;
    char *err = NULL;
    if (fs_load_scenario(cmd, path, ro, &sc) != 0)
        return 2;
    bool tty = isatty(STDERR_FILENO) && !ro->quiet;
    int rc = fs_replicate(&sc, n, 0.95, &r, tty ? show_progress : NULL, &n, &err);
    if (rc) {
        fprintf(stderr, "fleetsim %s: %s\n", cmd, err ? err : strerror(-rc));
        free(err);
        fs_scenario_free(&sc);
        return 2;
    }
    if (json) {
        json_t *o = fs_replication_to_json(&r);
        if (!o || json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) < 0)
            rc = 2;
        json_decref(o);
        putchar('\n');
    } else {
        fprintf(stdout, "scenario     %s\n", sc.name);
        fs_replication_print(stdout, &r);
    }
    fs_scenario_free(&sc);
    return rc;
}
