/*
 * bench_traces.c: how fast the trace readers stream, and that they stream in constant
 * memory (`make bench-traces`, part of `make bench`).
 *
 * For each format it prints rows read per second (median of --runs runs): fleetsim's
 * CSV from a 10-million-row file generated in $TMPDIR (deleted afterwards, never
 * committed), BurstGPT from a generated 2-million-row file, the Azure 2023 and
 * Mooncake files of ../shared/data (read repeatedly; skipped when absent) and the
 * generator itself. Then peak memory (ru_maxrss of a child process) replaying the
 * first 1 million and all 10 million CSV rows, and replaying 27.3 million Azure 2024
 * rows (the week-long trace's size) synthesised into a pipe, so no 1.3 GB file is
 * written. Flat memory means the 10M and 27M figures match the 1M one.
 * Workload assumed: one machine, a warm page cache; figures are wall-clock.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "ft_workload.h"

#ifndef FLEETSIM_SRCDIR
#define FLEETSIM_SRCDIR "."
#endif
#define SHARED FLEETSIM_SRCDIR "/../shared/data/traces/"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads a source to its end; returns the rows, or -1 (message printed). */
static long drain(ft_source *s, long max)
{
    ft_request r;
    char *err = NULL;
    long n = 0;
    int rc;
    while ((max <= 0 || n < max) && (rc = ft_source_next(s, &r, &err)) == 1)
        n++;
    if (err) {
        fprintf(stderr, "bench_traces: %s\n", err);
        free(err);
        return -1;
    }
    return n;
}

static long read_file(const char *path, ft_format f, long max)
{
    ft_trace_opts o = { .format = f };
    ft_source *s = NULL;
    char *err = NULL;
    snprintf(o.path, sizeof o.path, "%s", path);
    if (ft_trace_open(&o, &s, &err) != 0) {
        fprintf(stderr, "bench_traces: %s\n", err ? err : path);
        free(err);
        return -1;
    }
    long n = drain(s, max);
    ft_source_free(s);
    return n;
}

static bool present(const char *path)
{
    return access(path, R_OK) == 0;
}

/* Median rows/s over `runs` runs of `reps` reads of a file. */
static void rate_of(const char *label, const char *path, ft_format f, int reps, int runs)
{
    double r[32];
    long rows = 0;
    if (!present(path)) {
        printf("%-34s skipped: %s is absent\n", label, path);
        return;
    }
    for (int i = 0; i < runs; i++) {
        double t = now_s();
        rows = 0;
        for (int k = 0; k < reps; k++)
            rows += read_file(path, f, 0);
        r[i] = rows / (now_s() - t);
    }
    gsl_sort(r, 1, (size_t)runs);
    printf("%-34s %10.2f M rows/s  (median of %d; %ld rows per run)\n", label,
           gsl_stats_median_from_sorted_data(r, 1, (size_t)runs) / 1e6, runs, rows);
    fflush(stdout);
}

/* --- generated inputs --- */

static ft_source *chat_gen(uint64_t n, bool sessions)
{
    static ft_class k;
    memset(&k, 0, sizeof k);
    k.weight = 1;
    k.input = (ft_dist){ .kind = FT_DIST_LOGNORMAL, .mean = 1000, .sd = 600, .lo = 16, .hi = 8000 };
    k.output = (ft_dist){ .kind = FT_DIST_LOGNORMAL, .mean = 200, .sd = 150, .lo = 1, .hi = 2000 };
    k.prefix_tokens = 500;
    k.prefix_groups = 8;
    if (sessions)
        k.session = (ft_session){ .on = true, .turns = { .kind = FT_DIST_UNIFORM, .lo = 1, .hi = 8 },
                                  .think_s = { .kind = FT_DIST_FIXED, .mean = 5 },
                                  .ttft_s = 0.2, .tpot_s = 0.02 };
    ft_gen_config c = { .seed = 1, .arrival = { .kind = FT_ARR_POISSON, .rate = 50 },
                        .max_requests = n, .classes = &k, .nclasses = 1 };
    ft_source *s = NULL;
    char *err = NULL;
    if (ft_gen_new(&c, &s, &err) != 0) {
        fprintf(stderr, "bench_traces: %s\n", err);
        exit(2);
    }
    return s;
}

/* Writes n generated rows as fleetsim CSV (without segments: the plain columns). */
static int write_csv(const char *path, uint64_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    ft_source *s = chat_gen(n, false);
    ft_csv_writer *w = ft_csv_writer_new(f, false);
    ft_request r;
    char *err = NULL;
    int rc = 0;
    while (rc == 0 && ft_source_next(s, &r, &err) == 1)
        rc = ft_csv_write(w, &r);
    ft_csv_writer_free(w);
    ft_source_free(s);
    return fclose(f) == 0 ? rc : -EIO;
}

static int write_burstgpt(const char *path, long n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    fputs("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n", f);
    for (long i = 0; i < n; i++) {
        unsigned in = 100 + (unsigned)(i * 7919 % 4000), out = 1 + (unsigned)(i * 104729 % 900);
        fprintf(f, "%ld,%s,%u,%u,%u,%s\n", i / 3, i % 4 ? "ChatGPT" : "GPT-4", in, out,
                in + out, i % 5 ? "Conversation log" : "API log");
    }
    return fclose(f) == 0 ? 0 : -EIO;
}

/* Azure 2024 rows, one per ~22 ms over a week, into a stream. */
static void write_azure2024(FILE *f, long n)
{
    fputs("TIMESTAMP,ContextTokens,GeneratedTokens\n", f);
    for (long i = 0; i < n; i++) {
        long us = i * 22150, s = us / 1000000;
        fprintf(f, "2024-05-%02ld %02ld:%02ld:%02ld.%06ld+00:00,%ld,%ld\n", 10 + s / 86400,
                s / 3600 % 24, s / 60 % 60, s % 60, us % 1000000, 100 + i * 7919 % 8000,
                1 + i * 104729 % 600);
    }
}

/* --- peak memory in a child process --- */

/* Runs fn(arg) in a child; returns its peak RSS in MiB (or -1) and rows in *rows. */
static double peak_rss(long (*fn)(const void *), const void *arg, long *rows)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        long n = fn(arg);
        if (write(fd[1], &n, sizeof n) != (ssize_t)sizeof n)
            _exit(1);
        _exit(n < 0);
    }
    close(fd[1]);
    if (read(fd[0], rows, sizeof *rows) != (ssize_t)sizeof *rows)
        *rows = -1;
    close(fd[0]);
    int status;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return -1;
    return ru.ru_maxrss / 1024.0;                  /* Linux: KiB */
}

typedef struct csv_job {
    const char *path;
    long max;
} csv_job;

static long replay_csv(const void *arg)
{
    const csv_job *j = arg;
    return read_file(j->path, FT_FMT_CSV, j->max);
}

static long replay_azure_pipe(const void *arg)
{
    long n = *(const long *)arg;
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t writer = fork();
    if (writer == 0) {                              /* the synthetic week, into the pipe */
        close(fd[0]);
        FILE *f = fdopen(fd[1], "w");
        write_azure2024(f, n);
        _exit(fclose(f) != 0);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    ft_trace_opts o = { .format = FT_FMT_AUTO };
    ft_source *s = NULL;
    char *err = NULL;
    long rows = -1;
    if (f && ft_trace_fopen(f, "azure-2024-pipe", &o, &s, &err) == 0) {
        double t = now_s();
        rows = drain(s, 0);
        fprintf(stderr, "# %ld Azure 2024 rows from the pipe at %.2f M rows/s\n", rows,
                rows / (now_s() - t) / 1e6);
        ft_source_free(s);
    } else {
        fprintf(stderr, "bench_traces: %s\n", err ? err : "cannot open the pipe");
    }
    free(err);
    waitpid(writer, NULL, 0);
    return rows;
}

static long generate(const void *arg)
{
    ft_source *s = chat_gen((uint64_t)*(const long *)arg, true);
    long n = drain(s, 0);
    ft_source_free(s);
    return n;
}

static void rate_of_generator(int runs)
{
    double r[32];
    long n = 2000000;
    for (int i = 0; i < runs; i++) {
        double t = now_s();
        generate(&n);
        r[i] = n / (now_s() - t);
    }
    gsl_sort(r, 1, (size_t)runs);
    printf("%-34s %10.2f M rows/s  (median of %d; %ld rows per run)\n",
           "generator (chat sessions)", gsl_stats_median_from_sorted_data(r, 1, (size_t)runs) / 1e6,
           runs, n);
}

static void memory(const char *csv, bool big_azure)
{
    long rows;
    csv_job j1 = { csv, 1000000 }, j10 = { csv, 0 };
    double m1 = peak_rss(replay_csv, &j1, &rows);
    printf("%-34s %10.1f MiB peak RSS  (%ld rows)\n", "replay fleetsim CSV, first 1M", m1, rows);
    double m10 = peak_rss(replay_csv, &j10, &rows);
    printf("%-34s %10.1f MiB peak RSS  (%ld rows)\n", "replay fleetsim CSV, all 10M", m10, rows);
    long n = 2000000;
    double g = peak_rss(generate, &n, &rows);
    printf("%-34s %10.1f MiB peak RSS  (%ld rows)\n", "generator, chat sessions", g, rows);
    if (!big_azure)
        return;
    n = 27300000;
    double a = peak_rss(replay_azure_pipe, &n, &rows);
    printf("%-34s %10.1f MiB peak RSS  (%ld rows)\n", "replay Azure 2024 week via pipe", a, rows);
}

int main(int argc, char **argv)
{
    int runs = 5, c;
    bool big_azure = true;
    long rows = 10000000;
    static const struct option opts[] = {
        {"runs", required_argument, NULL, 'r'}, {"rows", required_argument, NULL, 'n'},
        {"no-azure-week", no_argument, NULL, 'a'}, {NULL, 0, NULL, 0},
    };
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'r' && (runs = atoi(optarg)) >= 1 && runs <= 31)
            continue;
        if (c == 'n' && (rows = atol(optarg)) >= 1000)
            continue;
        if (c == 'a') {
            big_azure = false;
            continue;
        }
        fprintf(stderr, "usage: bench_traces [--runs N] [--rows N] [--no-azure-week]\n");
        return 2;
    }
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char csv[512], burst[512];
    snprintf(csv, sizeof csv, "%s/fleetsim-bench-%d.csv", tmp, (int)getpid());
    snprintf(burst, sizeof burst, "%s/fleetsim-bench-%d-burstgpt.csv", tmp, (int)getpid());
    double t = now_s();
    if (write_csv(csv, (uint64_t)rows) != 0 || write_burstgpt(burst, 2000000) != 0) {
        fprintf(stderr, "bench_traces: cannot write the inputs in %s\n", tmp);
        return 2;
    }
    printf("# generated %ld CSV rows and 2M BurstGPT rows in %s (%.1f s)\n", rows, tmp,
           now_s() - t);
    memory(csv, big_azure);                 /* first, from a small parent process */
    rate_of("fleetsim CSV (10M rows)", csv, FT_FMT_CSV, 1, runs < 3 ? runs : 3);
    rate_of("BurstGPT (2M rows)", burst, FT_FMT_BURSTGPT, 1, runs);
    rate_of("Azure 2023 conv (x20)", SHARED "azure2023_AzureLLMInferenceTrace_conv.csv",
            FT_FMT_AZURE, 20, runs);
    rate_of("Mooncake synthetic (x20)", SHARED "mooncake_synthetic_trace.jsonl", FT_FMT_MOONCAKE,
            20, runs);
    rate_of_generator(runs);
    remove(csv);
    remove(burst);
    return 0;
}
