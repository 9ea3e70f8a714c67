/*
 * progress.c: the terminal progress bar (see progress.h).
 *
 * Drawn with a carriage return and an erase-to-end-of-line escape on one line, as
 * curl and wget do; no curses (the bar is one line, and a dependency for it would be
 * heavier than the bar). The line is cut to the terminal's width: a line that wraps
 * cannot be redrawn in place.
 */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24
#define REDRAW_S 0.1

struct fs_progress {
    FILE *f;
    bool enabled, drawn;
    char unit[24];
    uint64_t total;
    double start, last;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

bool fs_progress_wanted(FILE *f, bool quiet)
{
    return !quiet && isatty(fileno(f));
}

fs_progress *fs_progress_new(FILE *f, bool enabled, const char *unit, uint64_t total)
{
    fs_progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->f = f;
    p->enabled = enabled;
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    p->start = p->last = now_s();
    return p;
}

/* "1h02m", "3m05s", "42s" */
static void fmt_duration(double s, char *buf, size_t size)
{
    int t = s < 0 ? 0 : s > 359999 ? 359999 : (int)(s + 0.5); /* 99h59m at most */
    if (t >= 3600)
        snprintf(buf, size, "%dh%02dm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, size, "%dm%02ds", t / 60, t % 60);
    else
        snprintf(buf, size, "%ds", t);
}

static int fmt_bar(const fs_progress *p, uint64_t done, char *buf, size_t size)
{
    if (p->total == 0)
        return 0;
    double frac = done >= p->total ? 1.0 : (double)done / (double)p->total;
    char bar[BAR_WIDTH + 1];
    int full = (int)(frac * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < full ? '=' : i == full ? '>' : ' ';
    bar[BAR_WIDTH] = '\0';
    return snprintf(buf, size, "[%s] %3.0f%% ", bar, frac * 100);
}

void fs_progress_format(const fs_progress *p, uint64_t done, const char *detail,
                        double elapsed_s, char *buf, size_t size)
{
    int n = fmt_bar(p, done, buf, size);
    double rate = elapsed_s > 0 ? (double)done / elapsed_s : 0;
    n += snprintf(buf + n, size - (size_t)n, "%llu", (unsigned long long)done);
    if (p->total)
        n += snprintf(buf + n, size - (size_t)n, "/%llu", (unsigned long long)p->total);
    n += snprintf(buf + n, size - (size_t)n, " %s, %.0f/s", p->unit, rate);
    if (p->total && rate > 0 && done < p->total) {
        char eta[16];
        fmt_duration((double)(p->total - done) / rate, eta, sizeof eta);
        n += snprintf(buf + n, size - (size_t)n, ", %s left", eta);
    }
    if (detail && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ", %s", detail);
}

void fs_progress_update(fs_progress *p, uint64_t done, const char *detail)
{
    if (!p || !p->enabled)
        return;
    double t = now_s();
    if (p->drawn && t - p->last < REDRAW_S)
        return;
    char line[160];
    struct winsize ws;
    fs_progress_format(p, done, detail, t - p->start, line, sizeof line);
    if (ioctl(fileno(p->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
        ws.ws_col - 1 < (int)sizeof line)
        line[ws.ws_col - 1] = '\0';
    fprintf(p->f, "\r%s\033[K", line);
    fflush(p->f);
    p->last = t;
    p->drawn = true;
}

void fs_progress_free(fs_progress *p)
{
    if (!p)
        return;
    if (p->drawn) {
        fputs("\r\033[K", p->f);
        fflush(p->f);
    }
    free(p);
}
