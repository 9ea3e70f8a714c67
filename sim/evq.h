/*
 * evq.h: the discrete-event queue and the simulation clock.
 *
 * Simulated time is an integer count of nanoseconds owned by the queue; it changes
 * only when an event is popped and never goes backwards. Events are ordered by (time,
 * priority, insertion sequence): equal times pop in priority order (lower first) and
 * then first-in first-out, so a run is reproducible byte for byte. The queue is a
 * 4-ary min-heap of small fixed-size entries with an index from handle to heap slot, so
 * push, pop and cancel are O(log n) and a cancelled event leaves nothing behind.
 *
 * Ownership: the queue stores the caller's `data` pointers and never frees them.
 * Misuse (scheduling in the past, popping an empty queue) is an assert.
 */
#ifndef FS_EVQ_H
#define FS_EVQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Simulated time in nanoseconds. */
typedef int64_t fs_ns;
#define FS_NS_PER_S INT64_C(1000000000)
#define FS_NS_MAX INT64_MAX

/* A handle to a scheduled event; 0 is never a valid handle. */
typedef uint64_t fs_event_id;

typedef struct fs_event {
    fs_ns time;
    int priority;       /* lower pops first among equal times */
    int kind;           /* caller-defined event type */
    void *data;         /* caller-defined payload */
    fs_event_id id;
} fs_event;

typedef struct fs_evq fs_evq;

/* A new empty queue with the clock at 0; NULL when out of memory. */
fs_evq *fs_evq_new(void);
/* Frees the queue (not the events' data); accepts NULL. */
void fs_evq_free(fs_evq *q);

/* Current simulated time: the time of the last popped event (0 before any). */
fs_ns fs_evq_now(const fs_evq *q);
/* Number of pending events. */
size_t fs_evq_size(const fs_evq *q);

/*
 * Schedules an event at `time` (>= now; asserted). Returns its handle, or 0 when out of
 * memory (the queue is unchanged then).
 */
fs_event_id fs_evq_push(fs_evq *q, fs_ns time, int priority, int kind, void *data);

/* Cancels a pending event. Returns true if it was pending, false if it already popped,
 * was cancelled, or never existed. */
bool fs_evq_cancel(fs_evq *q, fs_event_id id);

/* Looks at the next event without removing it; false when empty. */
bool fs_evq_peek(const fs_evq *q, fs_event *out);

/* Removes the next event, advances the clock to its time and copies it to *out.
 * The queue must not be empty (asserted). */
void fs_evq_pop(fs_evq *q, fs_event *out);

#endif
