/*
 * test_mem.c: fu_big_calloc, the allocator for large random-access arrays: zeroed,
 * writable to the last byte, freed with its size; large ones on 2 MiB boundaries
 * where huge pages are used (Linux, no sanitizer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fu_mem.h"

static void check_zeroed_writable(size_t n)
{
    unsigned char *p = fu_big_calloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i += 4093)
        assert_int_equal(p[i], 0);
    assert_int_equal(p[n - 1], 0);
    memset(p, 0xa5, n);
    assert_int_equal(p[n - 1], 0xa5);
#if defined(__linux__) && !defined(__SANITIZE_ADDRESS__)
    if (n >= FU_BIG_MIN)
        assert_int_equal((uintptr_t)p % ((uintptr_t)2 << 20), 0);
#endif
    fu_big_free(p, n);
}

static void test_sizes(void **state)
{
    (void)state;
    check_zeroed_writable(1);
    check_zeroed_writable(4096);
    check_zeroed_writable(FU_BIG_MIN - 1);
    check_zeroed_writable(FU_BIG_MIN);
    check_zeroed_writable(((size_t)2 << 20) + 1);   /* two huge pages */
    check_zeroed_writable((size_t)5 << 20);
    fu_big_free(NULL, 0);
    fu_big_free(NULL, FU_BIG_MIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
