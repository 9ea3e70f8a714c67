/*
 * kvlink.h: KV-cache transfers between a prefill and a decode replica (P/D).
 *
 * A link is one direction of a replica's network path (NVLink inside a node, the
 * scale-out NIC across nodes) with a bandwidth and a base latency. Transfers that share
 * a link share its bandwidth equally (processor sharing): each progresses at bw/n while
 * n are active, so a burst of prompts finishing prefill together slows each other's
 * transfer as on a real NIC. A transfer's time is the base latency plus the time its
 * bytes take at that changing share.
 *
 * The link owns no clock: the caller tells it the time on every change and schedules
 * the event it asks for (the next completion) on its event queue. Rejected alternative:
 * a fixed time bytes/bw per transfer, which ignores contention exactly where P/D
 * deployments hurt (many long prompts at once).
 *
 * Ownership: transfers carry the caller's `data` pointer, never freed here.
 */
#ifndef FS_KVLINK_H
#define FS_KVLINK_H

#include <stddef.h>
#include <stdint.h>

#include "evq.h"

typedef struct fs_kvlink fs_kvlink;

/* A link of `bw` bytes/s (> 0); NULL when out of memory. */
fs_kvlink *fs_kvlink_new(double bw);
void fs_kvlink_free(fs_kvlink *l);

/* Starts moving `bytes` at time `now`; 0, or -ENOMEM (nothing changes then). */
int fs_kvlink_start(fs_kvlink *l, fs_ns now, double bytes, void *data);

/* When the next active transfer ends if nothing else starts (FS_NS_MAX when idle). */
fs_ns fs_kvlink_next(const fs_kvlink *l, fs_ns now);

/* Takes one transfer that has completed by `now` and returns its data; NULL when none
 * has. Call repeatedly after the time fs_kvlink_next() gave. */
void *fs_kvlink_take_done(fs_kvlink *l, fs_ns now);

/* Transfers in progress. */
size_t fs_kvlink_active(const fs_kvlink *l);

#endif
