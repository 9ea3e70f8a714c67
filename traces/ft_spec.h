/*
 * ft_spec.h: a workload specification, read from a scenario's `workload:` section.
 *
 * A spec says where requests come from (a generator configuration or a trace file with
 * its reader options) and which transforms to apply to them; ft_spec_open() turns it
 * into a source. Scenarios hold one spec; `fleetsim trace gen` reads one from its own
 * file. scenarios/README.md ("Workloads") documents every key.
 *
 * Ownership: an ft_spec is a plain value plus private storage (tables of classes and
 * empirical distributions) that ft_spec_free() releases; copying the struct moves that
 * storage with it (free exactly one copy). A source opened from a spec copies what it
 * needs, so the spec may be freed while the source lives.
 * Errors: 0 or negative errno (-EINVAL bad input, -ENOENT/-EIO files, -ENOMEM), a
 * malloc'd message naming file:line:column in *err; outputs untouched on failure.
 * Depends on util/fu_yaml.h for reading YAML, and on nothing else in the tree.
 */
#ifndef FT_SPEC_H
#define FT_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "ft_workload.h"
#include "fu_yaml.h"

typedef enum ft_spec_kind { FT_SPEC_GENERATOR = 0, FT_SPEC_TRACE } ft_spec_kind;

typedef struct ft_spec_store ft_spec_store;

typedef struct ft_spec {
    ft_spec_kind kind;
    ft_gen_config gen;          /* FT_SPEC_GENERATOR */
    ft_trace_opts trace;        /* FT_SPEC_TRACE: format, path (resolved), filters */
    ft_transforms xf;           /* applied to either kind, in ft_transforms' order */
    ft_spec_store *store;       /* private: storage owned by the spec */
} ft_spec;

/*
 * Reads a `workload:` mapping. Relative paths are resolved against `base_dir` (the
 * scenario file's directory); `seed` seeds the generator and the sampling transform.
 * Trace files must exist (checked here, so a scenario fails at load time with the
 * position of its path). On failure *out is zeroed and holds nothing to free.
 */
int ft_spec_from_yaml(fu_ynode workload, const char *base_dir, uint64_t seed, ft_spec *out,
                      char **err);

/* Opens the spec's source (reader or generator, wrapped in its transforms). */
int ft_spec_open(const ft_spec *spec, ft_source **out, char **err);

/* Replaces the seed of the generator and of the sampling transform. */
void ft_spec_set_seed(ft_spec *spec, uint64_t seed);

/*
 * Caps the workload at n requests (n > 0): a generator generates n (its `requests`);
 * a trace yields its first n requests after transforms.
 */
void ft_spec_set_requests(ft_spec *spec, uint64_t n);

/* Releases the spec's storage and zeroes it; accepts NULL and zeroed specs. */
void ft_spec_free(ft_spec *spec);

#endif
