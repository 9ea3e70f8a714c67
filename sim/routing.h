/*
 * routing.h: the simulator's side of libfleetpolicy: the router of a simulated cluster.
 *
 * The cluster's replicas are the policy's endpoints (named "pool/index", labelled
 * llm-d.ai/role from their pool's role plus the pool's labels). Requests of one workload
 * class may only go to the pools that serve that class, as separate InferencePools with
 * their own Endpoint Picker do in llm-d; so there is one policy instance per distinct
 * set of pools, made on first use. Endpoint snapshots are refreshed by the cluster on
 * the router's period, so the policy sees load as stale as llm-d's 50 ms scrape does.
 * KV events of the engines feed the precise prefix index.
 *
 * Ownership: fs_routing owns its policies; it borrows the scenario and the replica
 * table the caller gives it, which must outlive it.
 */
#ifndef FS_ROUTING_H
#define FS_ROUTING_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "ft_workload.h"
#include "scenario.h"

typedef struct fs_routing fs_routing;

/* What the router needs to know of a replica. */
typedef struct fs_route_target {
    int pool;                     /* index into the scenario's pools */
    const fs_engine *engine;      /* for snapshots */
} fs_route_target;

/* A routing decision: replica indexes. */
typedef struct fs_route {
    int decode;                   /* where the request is served (decode, or both) */
    int prefill;                  /* where it is prefilled when disaggregated, else -1 */
} fs_route;

/*
 * Creates the router for `n` replicas described by `targets` (borrowed), with the
 * scenario's policy (config file or built-in) and a random stream from `seed`. The
 * targets' pools are read now, their engines only from the first pick or refresh on,
 * so the engines may be created after the router.
 */
int fs_routing_new(const fs_scenario *sc, const fs_route_target *targets, int n,
                   uint64_t seed, fs_routing **out, char **err);
void fs_routing_free(fs_routing *rt);

/*
 * Picks replicas for request `id` of class `cls`. Returns 0 with *out, -ENOENT when no
 * replica may serve it (no pool serves the class, or every candidate was filtered out:
 * llm-d answers 503), -ENOMEM; on error both of *out are -1. A successful pick holds
 * in-flight load until fs_routing_end().
 */
int fs_routing_pick(fs_routing *rt, uint64_t id, const ft_request *req, fs_ns now,
                    fs_route *out);
/* The first token of request `id` streamed back (releases its prompt load). */
void fs_routing_first_token(fs_routing *rt, uint64_t id, fs_ns now);
/* End of stream of request `id`, or it was dropped after the pick. */
void fs_routing_end(fs_routing *rt, uint64_t id, fs_ns now);
/* Refreshes every endpoint's metrics snapshot from its engine. */
void fs_routing_refresh(fs_routing *rt, fs_ns now);
/* KV events of replica `rep`'s engine, for precise prefix scoring. */
void fs_routing_kv_stored(fs_routing *rt, int rep, uint64_t hash);
void fs_routing_kv_removed(fs_routing *rt, int rep, uint64_t hash);

/* True when every request is served by one replica without a choice to make. */
bool fs_routing_trivial(const fs_routing *rt);

/*
 * True when the policy uses the engines' KV events (a precise prefix index), so that
 * fs_routing_kv_stored/removed do something; otherwise a caller need not report them
 * (two calls per block a run would make for nothing).
 */
bool fs_routing_wants_kv_events(const fs_routing *rt);

#endif
