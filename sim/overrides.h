/*
 * overrides.h: "set path=value" on a scenario's YAML before it is loaded, for
 * `fleetsim run --set`, sweeps and the capacity planner.
 *
 * A path names a node of the scenario's tree by keys and sequence indexes separated by
 * dots: `workload.arrival.rate`, `pools.0.replicas`, `router.policy`, `accelerator`,
 * `engine.max_num_seqs`. The value is YAML text ("8", "H200", "{base: H100-SXM,
 * price_per_hour: 2.1}", "[chat]"), so any field, scalar or not, can be replaced.
 * Missing mapping keys along the path are created (so `slo.ttft=300ms` works on a
 * scenario without `slo:`); a sequence index must exist or be one past the end
 * (append). Keys that contain a dot cannot be addressed. The scenario loader then
 * validates the result exactly as it validates a file, so a bad value is reported as
 * the loader reports it.
 *
 * Workload assumed: scenarios of a few kilobytes, tens of overrides, thousands of
 * points in a sweep: the text is parsed and emitted again for every point, which costs
 * microseconds against a simulation's milliseconds or more.
 *
 * The emitted text (comments dropped, libyaml's layout) is what is stored with a run
 * and hashed, so the same base and overrides give the same text and hash, and a sweep
 * recognises the points it has already run.
 *
 * Ownership: returned strings are malloc'd and the caller's. Errors: 0 or negative
 * errno (-EINVAL bad input, -ENOMEM) with a malloc'd message in *err.
 */
#ifndef FS_OVERRIDES_H
#define FS_OVERRIDES_H

#include "runcommon.h"
#include "scenario.h"

/*
 * Applies the `nsets` overrides "path=value" in order to the YAML `text` (`name` is
 * used in messages) and stores the re-emitted document in *out. The root must be a
 * mapping. On failure *out is untouched and *err says which override failed and why.
 */
int fs_overrides_apply(const char *name, const char *text, const char *const *sets, int nsets,
                       char **out, char **err);

/*
 * Reads the file at `path` into a malloc'd string in *out (-ENOENT or -EIO with a
 * message naming the file).
 */
int fs_overrides_read_file(const char *path, char **out, char **err);

/*
 * fs_load_scenario (runcommon.h) with overrides: reads `path`, applies `sets`, loads
 * the result as a scenario anchored at `path`, then applies ro's seed and request
 * count. With nsets 0 the file is loaded as it is (same text and hash as a plain run).
 * On failure prints "fleetsim CMD: message" and returns -1 with nothing to free.
 */
int fs_load_scenario_set(const char *cmd, const char *path, const char *const *sets,
                         int nsets, const fs_run_opts *ro, fs_scenario *sc);

#endif
