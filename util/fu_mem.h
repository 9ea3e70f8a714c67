/*
 * fu_mem.h: memory for large, long-lived arrays that are accessed at random
 * (libfsutil, a leaf): the KV block pools of the engines and the router's prefix index.
 *
 * A fleet run touches some hundred megabytes of such arrays at random, so with 4 KiB
 * pages nearly every access also misses the TLB, and every page is faulted in one at a
 * time. Arrays from here sit on 2 MiB-aligned anonymous mappings that ask for
 * transparent huge pages (madvise(MADV_HUGEPAGE); Linux's default THP mode honours
 * it), which removes most page walks and faults. Smaller requests, systems without
 * MADV_HUGEPAGE and sanitizer builds (where malloc'd memory is what ASan checks) get
 * calloc.
 *
 * Ownership: the caller owns the array and passes it back to fu_big_free with the size
 * it asked for.
 */
#ifndef FU_MEM_H
#define FU_MEM_H

#include <stddef.h>

/* Below this many bytes fu_big_calloc is calloc (a huge page would be mostly empty). */
#define FU_BIG_MIN ((size_t)1 << 20)

/* n bytes of zeroed memory (n > 0), or NULL when out of memory. */
void *fu_big_calloc(size_t n);

/* Frees what fu_big_calloc(n) returned; accepts NULL. */
void fu_big_free(void *p, size_t n);

#endif
