/*
 * fu_mem.c: large arrays on transparent huge pages (see fu_mem.h).
 *
 * The mapping is over-allocated by 2 MiB and trimmed to a 2 MiB boundary, because the
 * kernel only backs aligned 2 MiB ranges with huge pages. Its length is rounded up to
 * whole huge pages, so RSS is at most one huge page per array above what was asked.
 * Rejected: glibc's malloc tunable (glibc.malloc.hugetlb=1), which madvises every
 * mmap'd chunk but leaves them unaligned, so arrays of a megabyte or two (one engine's
 * block pool) get no huge page at all; MAP_HUGETLB (needs a reserved pool).
 */
#include "fu_mem.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
#include <sys/mman.h>
#if defined(MADV_HUGEPAGE)
#define FU_HUGE 1
#endif
#endif

#define HUGE_PAGE ((size_t)2 << 20)

#ifdef FU_HUGE
static size_t mapped_len(size_t n)
{
    return (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
}
#endif

void *fu_big_calloc(size_t n)
{
#ifdef FU_HUGE
    if (n >= FU_BIG_MIN && n <= SIZE_MAX - 2 * HUGE_PAGE) {
        size_t len = mapped_len(n), span = len + HUGE_PAGE;
        char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        char *p = (char *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
        if (p > m)
            munmap(m, (size_t)(p - m));
        if (m + span > p + len)
            munmap(p + len, (size_t)(m + span - (p + len)));
        madvise(p, len, MADV_HUGEPAGE);   /* a hint: without it the pages are small */
        return p;
    }
#endif
    return calloc(1, n);
}

void fu_big_free(void *p, size_t n)
{
    if (!p)
        return;
#ifdef FU_HUGE
    if (n >= FU_BIG_MIN && n <= SIZE_MAX - 2 * HUGE_PAGE) {
        munmap(p, mapped_len(n));
        return;
    }
#endif
    (void)n;
    free(p);
}
