/*
 * test_traces_corpus.c: replays the fuzzing corpus of the trace readers and of
 * workload specs (fuzz/corpus/readers, fuzz/corpus/spec) through the fuzz targets,
 * so every input the fuzzer ever kept (and every crash it found, once fixed) runs in
 * `make check`, under the sanitizers in CI. The targets abort on a broken promise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_READERS_ENTRY fuzz_readers_one
#define FUZZ_SPEC_ENTRY fuzz_spec_one
#define FUZZ_DATA_DIR TOP_SRCDIR "/tests/data"
#include "../fuzz/fuzz_readers.c"
#include "../fuzz/fuzz_spec.c"

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char *buf = NULL;
    size_t cap = 0;
    *n = 0;
    for (;;) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 4096;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        size_t got = fread(buf + *n, 1, cap - *n, f);
        if (got == 0)
            break;
        *n += got;
    }
    fclose(f);
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs every file of a corpus directory through `one`; returns how many. */
static size_t replay(const char *dir, int (*one)(const uint8_t *, size_t))
{
    double slowest = 0;
    char slow_name[256] = "";
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open the corpus %s", dir);
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n;
        unsigned char *buf = slurp(path, &n);
        double t = now_s();
        one(buf, n);
        if ((t = now_s() - t) > slowest) {
            slowest = t;
            snprintf(slow_name, sizeof slow_name, "%s", e->d_name);
        }
        free(buf);
        count++;
    }
    closedir(d);
    print_message("# slowest input: %s (%.0f ms)\n", slow_name, 1e3 * slowest);
    return count;
}

static void test_readers_corpus(void **state)
{
    (void)state;
    size_t n = replay(TOP_SRCDIR "/fuzz/corpus/readers", fuzz_readers_one);
    print_message("# replayed %zu reader inputs\n", n);
    assert_true(n >= 10);
}

static void test_spec_corpus(void **state)
{
    (void)state;
    size_t n = replay(TOP_SRCDIR "/fuzz/corpus/spec", fuzz_spec_one);
    print_message("# replayed %zu spec inputs\n", n);
    assert_true(n >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_corpus),
        cmocka_unit_test(test_spec_corpus),
    };
    return cmocka_run_group_tests_name("trace fuzz corpus", tests, NULL, NULL);
}
