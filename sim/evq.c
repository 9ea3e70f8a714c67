/*
 * evq.c: the discrete-event queue and simulation clock (see evq.h for the contract).
 *
 * Workload assumed: the simulator's hot path. A run pops millions of events per
 * wall-clock second; the queue holds O(replicas + requests in flight) events at a time
 * (one step completion per busy replica, arrivals, snapshot refresh ticks, KV transfers,
 * timeouts), i.e. thousands to a few hundred thousand. Many events share a time (ticks,
 * batched completions), so the (time, priority, sequence) tie-break is exercised
 * constantly. Some events are cancelled (a timeout that did not fire, a step re-planned).
 *
 * Layout. The heap array holds 24-byte keys {time, seq, priority, slot}; the payload
 * (kind, data) and the key's current heap position live in a slot table indexed by the
 * handle, so a sift moves only the small keys and cancel finds its key in O(1), then
 * removes it in O(log n) -- no tombstones, so the heap never fills with dead entries
 * and fs_evq_size() is exact. Both arrays grow geometrically and are never shrunk: no
 * per-event malloc. Freed slots are reused through a free list threaded through the
 * slot table.
 *
 * Handles are (slot << 32) | generation. A slot's generation is odd while it holds a
 * pending event and even while it is free, and is bumped on every allocate and free, so
 * a handle is never 0 and a stale handle (popped or cancelled) never matches the slot's
 * current occupant. A slot whose generation would wrap is retired instead of reused, so
 * no stale handle can ever cancel a newer event (at worst 24 bytes per 2^31 reuses).
 *
 * Why a 4-ary heap. Versus a binary heap: half the depth (log4 n levels), and the four
 * children that sift-down compares are adjacent (96 bytes, one or two cache lines), so
 * pop -- which dominates -- takes about half the cache misses; push sifts up through
 * fewer levels too. Versus a calendar queue (O(1) amortised): its bucket width must be
 * tuned to the spread of event times, and ours is mixed (sub-millisecond decode steps,
 * 50 ms refresh ticks, arrivals seconds apart at low load, long timeouts), so it would
 * need resizing heuristics with pauses; FIFO among equal times and O(log n) cancel also
 * come for free in a heap. At our queue sizes (~2^10..2^17) a 4-ary heap is 5-9 levels
 * and stays in cache, so the asymptotic gain of a calendar queue would not show.
 */
#include "evq.h"

#include <assert.h>
#include <stdlib.h>

#define ARITY 4
#define INITIAL_CAP 64
#define NO_SLOT UINT32_MAX      /* end of the free list */
#define MAX_SLOTS (UINT32_MAX - 1)

/* A heap entry: the ordering key and the slot of its payload. */
typedef struct heap_key {
    fs_ns time;
    uint64_t seq;       /* insertion order, ties between equal (time, priority) */
    int priority;
    uint32_t slot;
} heap_key;

/* Payload and back-index of one event; `pos` is the free-list link when free. */
typedef struct slot_rec {
    void *data;
    int kind;
    uint32_t pos;       /* index in heap while pending; next free slot while free */
    uint32_t gen;       /* odd = pending, even = free */
} slot_rec;

struct fs_evq {
    heap_key *heap;
    size_t len, heap_cap;
    slot_rec *slots;
    uint32_t nslots, slot_cap;
    uint32_t free_head;
    uint64_t next_seq;
    fs_ns now;
};

fs_evq *fs_evq_new(void)
{
    fs_evq *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->free_head = NO_SLOT;
    return q;
}

void fs_evq_free(fs_evq *q)
{
    if (!q)
        return;
    free(q->heap);
    free(q->slots);
    free(q);
}

fs_ns fs_evq_now(const fs_evq *q)
{
    return q->now;
}

size_t fs_evq_size(const fs_evq *q)
{
    return q->len;
}

static bool key_less(const heap_key *a, const heap_key *b)
{
    if (a->time != b->time)
        return a->time < b->time;
    if (a->priority != b->priority)
        return a->priority < b->priority;
    return a->seq < b->seq;
}

/* Writes key k at heap index i and keeps its slot's back-index in step. */
static void place(fs_evq *q, size_t i, const heap_key *k)
{
    q->heap[i] = *k;
    q->slots[k->slot].pos = (uint32_t)i;
}

/* Moves the hole at i up until k fits there; places k. */
static void sift_up(fs_evq *q, size_t i, heap_key k)
{
    while (i > 0) {
        size_t parent = (i - 1) / ARITY;
        if (!key_less(&k, &q->heap[parent]))
            break;
        place(q, i, &q->heap[parent]);
        i = parent;
    }
    place(q, i, &k);
}

/* Index of the smallest child of i, or 0 when i is a leaf. */
static size_t min_child(const fs_evq *q, size_t i)
{
    size_t first = ARITY * i + 1;
    if (first >= q->len)
        return 0;
    size_t last = first + ARITY < q->len ? first + ARITY : q->len;
    size_t best = first;
    for (size_t c = first + 1; c < last; c++)
        if (key_less(&q->heap[c], &q->heap[best]))
            best = c;
    return best;
}

/* Moves the hole at i down until k fits there; places k. */
static void sift_down(fs_evq *q, size_t i, heap_key k)
{
    for (;;) {
        size_t c = min_child(q, i);
        if (c == 0 || !key_less(&q->heap[c], &k))
            break;
        place(q, i, &q->heap[c]);
        i = c;
    }
    place(q, i, &k);
}

/* Grows an array of `elem`-byte items to hold at least `need`; false on OOM. */
static bool grow(void **arr, size_t *cap, size_t need, size_t elem, size_t max)
{
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap : INITIAL_CAP;
    while (ncap < need)
        ncap = ncap > max / 2 ? max : ncap * 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

/* Makes room for one more pending event in both arrays; false on OOM or at the limit. */
static bool reserve_one(fs_evq *q)
{
    if (q->free_head == NO_SLOT) {
        if (q->nslots == MAX_SLOTS)
            return false;
        size_t cap = q->slot_cap;
        bool ok = grow((void **)&q->slots, &cap, (size_t)q->nslots + 1,
                       sizeof *q->slots, MAX_SLOTS);
        q->slot_cap = (uint32_t)cap;
        if (!ok)
            return false;
    }
    return grow((void **)&q->heap, &q->heap_cap, q->len + 1, sizeof *q->heap,
                SIZE_MAX / sizeof *q->heap);
}

/* Takes a free slot (reserve_one() made sure there is one) and marks it pending. */
static uint32_t slot_alloc(fs_evq *q)
{
    uint32_t s = q->free_head;
    if (s != NO_SLOT) {
        q->free_head = q->slots[s].pos;
    } else {
        s = q->nslots++;
        q->slots[s].gen = 0;
    }
    q->slots[s].gen++;
    return s;
}

/* Returns slot s to the free list, or retires it if its generation would wrap. */
static void slot_release(fs_evq *q, uint32_t s)
{
    slot_rec *r = &q->slots[s];
    r->data = NULL;
    if (r->gen == UINT32_MAX) {
        r->gen = 0;     /* retired: even, so no handle matches, and off the free list */
        return;
    }
    r->gen++;
    r->pos = q->free_head;
    q->free_head = s;
}

static fs_event_id make_id(uint32_t slot, uint32_t gen)
{
    return ((uint64_t)slot << 32) | gen;
}

fs_event_id fs_evq_push(fs_evq *q, fs_ns time, int priority, int kind, void *data)
{
    assert(time >= q->now && "event scheduled in the past");
    if (!reserve_one(q))
        return 0;
    uint32_t s = slot_alloc(q);
    q->slots[s].data = data;
    q->slots[s].kind = kind;
    heap_key k = { .time = time, .seq = q->next_seq++, .priority = priority, .slot = s };
    q->len++;
    sift_up(q, q->len - 1, k);
    return make_id(s, q->slots[s].gen);
}

/* Removes the key at heap index i, refilling the hole with the last key. */
static void heap_remove_at(fs_evq *q, size_t i)
{
    heap_key last = q->heap[--q->len];
    if (i == q->len)
        return;
    if (i > 0 && key_less(&last, &q->heap[(i - 1) / ARITY]))
        sift_up(q, i, last);
    else
        sift_down(q, i, last);
}

bool fs_evq_cancel(fs_evq *q, fs_event_id id)
{
    uint64_t s64 = id >> 32;
    uint32_t gen = (uint32_t)id;
    if (s64 >= q->nslots || (gen & 1u) == 0)
        return false;
    uint32_t s = (uint32_t)s64;
    if (q->slots[s].gen != gen)
        return false;
    heap_remove_at(q, q->slots[s].pos);
    slot_release(q, s);
    return true;
}

/* Fills *out from the key at the top of the heap. */
static void top_event(const fs_evq *q, fs_event *out)
{
    const heap_key *k = &q->heap[0];
    const slot_rec *r = &q->slots[k->slot];
    out->time = k->time;
    out->priority = k->priority;
    out->kind = r->kind;
    out->data = r->data;
    out->id = make_id(k->slot, r->gen);
}

bool fs_evq_peek(const fs_evq *q, fs_event *out)
{
    if (q->len == 0)
        return false;
    top_event(q, out);
    return true;
}

void fs_evq_pop(fs_evq *q, fs_event *out)
{
    assert(q->len > 0 && "pop from an empty event queue");
    top_event(q, out);
    assert(out->time >= q->now && "clock went backwards");
    uint32_t s = q->heap[0].slot;
    heap_remove_at(q, 0);
    slot_release(q, s);
    q->now = out->time;
}
