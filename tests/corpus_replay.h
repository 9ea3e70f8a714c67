/*
 * corpus_replay.h: runs every file of a fuzzing corpus directory through a fuzz
 * target's entry point, for the corpus tests (tests/test_*_corpus.c), which include
 * it after cmocka.h and list one corpus_case per corpus (CORPUS_TEST). A target aborts
 * on a broken promise, so a replay that returns has passed every input; it reports
 * the slowest one.
 */
#ifndef FS_CORPUS_REPLAY_H
#define FS_CORPUS_REPLAY_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

/* One corpus: fuzz/corpus/<name>, its target's entry point, and the fewest inputs it
   must hold (so that a lost or emptied corpus fails rather than passes). */
typedef struct corpus_case {
    const char *name;
    int (*one)(const uint8_t *, size_t);
    size_t min_inputs;
} corpus_case;

static void test_corpus(void **state)
{
    const corpus_case *c = *state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", TOP_SRCDIR, c->name);
    size_t n = replay(dir, c->one);
    print_message("# replayed %zu %s inputs\n", n, c->name);
    assert_true(n >= c->min_inputs);
}

/* A cmocka test replaying corpus case c (a pointer to a static corpus_case). */
#define CORPUS_TEST(c) { (c)->name, test_corpus, NULL, NULL, (void *)(c) }

#endif
