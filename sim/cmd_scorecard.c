/*
 * cmd_scorecard.c: `fleetsim scorecard`: the hardware-purchase scorecard. For each
 * workload class (chat, long context, batch: bundled scenarios
 * scenarios/scorecard-*.yaml, or the user's own with --class NAME=FILE) and each
 * accelerator of the catalogue, the cheapest configuration (TP degree and replicas)
 * that meets the class's SLOs at its arrival rate, found by the planner (sim/plan.h);
 * then the cheapest accelerator per class, what a mixed fleet (each class on its own
 * best accelerator) costs against the best single-accelerator fleet, and each
 * accelerator's economics (memory, bandwidth and FLOP/s per dollar-hour) with the
 * winner's rank in each, which says why it won. Markdown on stdout (or --md FILE) and
 * an HTML page with bar charts (--html FILE).
 *
 * Workload assumed: three classes x eleven accelerators x four TP degrees, each
 * candidate a bisection of a few hundred-request runs: a few hundred runs in all, tens
 * of seconds. The report depends only on the scenarios, the catalogue and the seeds.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fm_models.h"
#include "plan.h"
#include "runcommon.h"

#define MAX_CLASSES 8
#define MAX_ACCELS 32

typedef struct klass {
    char name[32];
    char path[PATH_MAX];
    fs_plan_workload wl;             /* its workload as the planner scales it */
    double rate;
    fs_plan_cand best[MAX_ACCELS];   /* per accelerator, the cheapest TP */
    int winner;                      /* index of the cheapest accelerator, -1 none */
} klass;

typedef struct card {
    klass cls[MAX_CLASSES];
    int ncls;
    fm_accel acc[MAX_ACCELS];
    int nacc;
    int tps[4];
    int ntps, max_replicas, requests;
} card;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fleetsim scorecard [OPTIONS]\n\n"
            "For each workload class and accelerator, the cheapest configuration meeting\n"
            "the class's SLOs at its rate; the cheapest accelerator per class; a mixed\n"
            "fleet against the best single-accelerator fleet; each accelerator's\n"
            "economics. Prints Markdown.\n\n"
            "options:\n"
            "  --class NAME=FILE   a workload class and its scenario (repeatable; replaces\n"
            "                      the bundled chat, long-context and batch classes)\n"
            "  --accelerators A,B  accelerators to consider (default: the catalogue's)\n"
            "  --max-replicas N    search bound per configuration (default 32)\n"
            "  --requests N        requests per run (default 300)\n"
            "  --md FILE           write the Markdown report to FILE instead of stdout\n"
            "  --html FILE         also write an HTML report with bar charts\n"
            "  --catalog DIR       read accelerators and LLMs from DIR (default: bundled)\n"
            "  -h, --help          show this help\n\n"
            "Exit status: 0 done; 2 bad input.\n");
}

/* --- searching --- */

/* The cheapest TP for class k on accelerator a, into k->best[a]. */
static int search_accel(const card *cd, klass *k, int a, const fs_run_opts *ro)
{
    fs_plan_spec ps = {.max_replicas = cd->max_replicas, .ntps = 1, .naccels = 1,
                       .nmodes = 1, .nrouters = 1};
    snprintf(ps.scenario, sizeof ps.scenario, "%s", k->path);
    snprintf(ps.name, sizeof ps.name, "%s", k->name);
    ps.accels[0] = cd->acc[a].name;
    ps.modes[0] = "aggregated";
    fs_planner pl = {.ps = &ps, .ro = *ro, .wl = k->wl, .rate = k->rate};
    fs_plan_cand cs[4];
    int rc = 0;
    for (int t = 0; rc == 0 && t < cd->ntps; t++) {
        cs[t] = (fs_plan_cand){.accel = cd->acc[a].name, .tp = cd->tps[t],
                               .mode = "aggregated"};
        rc = fs_plan_search(&pl, &cs[t]);
    }
    if (rc == 0) {
        bool ran = false;   /* some TP holds the model: "misses the SLOs", not "cannot" */
        for (int t = 0; t < cd->ntps; t++)
            ran |= cs[t].why[0] == '\0';
        fs_plan_rank(cs, cd->ntps);
        k->best[a] = cs[0];
        if (ran && !cs[0].feasible)
            k->best[a].why[0] = '\0';
    }
    fs_plan_spec_free(&ps);
    return rc;
}

static int search_class(const card *cd, klass *k, const fs_run_opts *ro)
{
    fs_plan_spec ps = {0};
    snprintf(ps.scenario, sizeof ps.scenario, "%s", k->path);
    fs_planner pl = {.ps = &ps, .ro = *ro};
    /* the class at its own rate: a generator's arrival rate, a trace's as replayed */
    if (fs_plan_workload_load(&pl, "scorecard") != 0 ||
        fs_plan_target(&pl, 0, 1, "scorecard") != 0)
        return -1;
    k->wl = pl.wl;
    k->rate = pl.rate;
    k->winner = -1;
    for (int a = 0; a < cd->nacc; a++) {
        if (search_accel(cd, k, a, ro) != 0)
            return -1;
        const fs_plan_cand *c = &k->best[a];
        if (c->feasible && (k->winner < 0 || c->usd_h < k->best[k->winner].usd_h))
            k->winner = a;
    }
    return 0;
}

/* --- economics --- */

typedef enum { E_MEM, E_BW, E_FLOPS, E_N } econ;
static const char *const econ_name[E_N] = {"GB per $/h", "TB/s per $/h",
                                          "BF16 TFLOP/s per $/h"};

static double econ_of(const fm_accel *a, econ e)
{
    double p = a->price_per_hour > 0 ? a->price_per_hour : 1e9;
    return (e == E_MEM ? a->mem_bytes / 1e9 : e == E_BW ? a->mem_bw / 1e12
                                                        : a->bf16_flops / 1e12) / p;
}

/* 1-based rank of accelerator a in economics e (1 = the most per dollar). */
static int econ_rank(const card *cd, int a, econ e)
{
    int r = 1;
    for (int b = 0; b < cd->nacc; b++)
        r += econ_of(&cd->acc[b], e) > econ_of(&cd->acc[a], e);
    return r;
}

/* What bounds the class, from its cheapest configuration's latency margins. */
static const char *why_class(const klass *k)
{
    if (strstr(k->name, "long"))
        return "KV capacity (memory per replica) bounds how many long prompts run at "
               "once";
    if (strstr(k->name, "batch"))
        return "loose SLOs allow large, compute-bound batches";
    return "every decode step reads all weights: TPOT is memory-bandwidth bound";
}

static econ econ_for(const klass *k)
{
    return strstr(k->name, "long") ? E_MEM : strstr(k->name, "batch") ? E_FLOPS : E_BW;
}

/* --- the fleets --- */

/* Cost per hour of serving every class on accelerator a alone; < 0 when one cannot. */
static double single_fleet(const card *cd, int a)
{
    double sum = 0;
    for (int k = 0; k < cd->ncls; k++) {
        if (!cd->cls[k].best[a].feasible)
            return -1;
        sum += cd->cls[k].best[a].usd_h;
    }
    return sum;
}

static double mixed_fleet(const card *cd)
{
    double sum = 0;
    for (int k = 0; k < cd->ncls; k++) {
        if (cd->cls[k].winner < 0)
            return -1;
        sum += cd->cls[k].best[cd->cls[k].winner].usd_h;
    }
    return sum;
}

/* --- Markdown --- */

static void md_class(FILE *f, const card *cd, const klass *k)
{
    const char *base = strrchr(k->path, '/') ? strrchr(k->path, '/') + 1 : k->path;
    fprintf(f, "### %s (%s, %.4g req/s)\n\n", k->name, base, k->rate);
    fprintf(f, "| accelerator | TP | replicas | accelerators | $/h | $/M tokens | TTFT ms "
               "| TPOT ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int a = 0; a < cd->nacc; a++) {
        const fs_plan_cand *c = &k->best[a];
        if (!c->feasible) {
            fprintf(f, "| %s | | | | %s | | | |\n", cd->acc[a].name,
                    c->why[0] ? "cannot hold the model" : "misses the SLOs");
            continue;
        }
        fprintf(f, "| %s%s | %d | %d | %d | %.2f | %.4f | %.0f | %.1f |\n", cd->acc[a].name,
                a == k->winner ? " **(cheapest)**" : "", c->tp, c->scale, c->accelerators,
                c->usd_h, c->usd_mtok, c->ttft_s * 1e3, c->tpot_s * 1e3);
    }
    fputc('\n', f);
}

/* The second-cheapest accelerator of a class, -1 when none. */
static int runner_up(const card *cd, const klass *k)
{
    int r = -1;
    for (int a = 0; a < cd->nacc; a++)
        if (a != k->winner && k->best[a].feasible &&
            (r < 0 || k->best[a].usd_h < k->best[r].usd_h))
            r = a;
    return r;
}

/* "chat on MI300X (rank 2 of 11 in TB/s per $/h)", for class k's winner. */
static void md_class_choice(FILE *f, const card *cd, const klass *k)
{
    econ e = econ_for(k);
    fprintf(f, "%s on %s (rank %d of %d in %s)", k->name, cd->acc[k->winner].name,
            econ_rank(cd, k->winner, e), cd->nacc, econ_name[e]);
}

/* Why the mixed fleet costs what it does against the best single one (accelerator ba,
 * `best` $/h): one accelerator winning every class leaves nothing to mix, which a
 * reader should not take for a missing comparison, and rests on its price. */
static void md_mixed_why(FILE *f, const card *cd, double mixed, int ba, double best)
{
    int same = 0;
    for (int k = 0; k < cd->ncls; k++)
        same += cd->cls[k].winner == ba;
    if (mixed < 0) {
        fprintf(f, "\nNo mixed fleet: some class meets its SLOs on none of these "
                   "accelerators.\n");
        return;
    }
    if (ba >= 0 && same == cd->ncls) {
        const fm_accel *x = &cd->acc[ba];
        fprintf(f, "\nWhy the mixed fleet equals the single-accelerator fleet: %s is the "
                   "cheapest accelerator in every class, so there is nothing to mix: ",
                x->name);
        for (int k = 0; k < cd->ncls; k++) {
            fprintf(f, "%s", k ? ", " : "");
            md_class_choice(f, cd, &cd->cls[k]);
        }
        fprintf(f, ". That rests on its catalogue price, $%.2f/h%s%s%s: at another price "
                   "(a scenario's `accelerator: {base: %s, price_per_hour: ...}`, or "
                   "`--catalog DIR`) or without it (`--accelerators`) the classes may "
                   "split.\n", x->price_per_hour, x->price_source[0] ? " (" : "",
                x->price_source, x->price_source[0] ? ")" : "", x->name);
        return;
    }
    fprintf(f, "\nThe classes split: ");
    for (int k = 0; k < cd->ncls; k++) {
        fprintf(f, "%s", k ? ", " : "");
        md_class_choice(f, cd, &cd->cls[k]);
    }
    if (ba >= 0)
        fprintf(f, ". Mixing saves $%.2f/h against %s alone.\n", best - mixed,
                cd->acc[ba].name);
    else
        fprintf(f, ". No single accelerator serves every class.\n");
}

static void md_summary(FILE *f, const card *cd)
{
    fprintf(f, "## Cheapest accelerator per class\n\n| class | accelerator | config | $/h "
               "| runner-up | why |\n|---|---|---|---:|---|---|\n");
    for (int k = 0; k < cd->ncls; k++) {
        const klass *c = &cd->cls[k];
        if (c->winner < 0) {
            fprintf(f, "| %s | none meets the SLOs | | | |\n", c->name);
            continue;
        }
        const fs_plan_cand *b = &c->best[c->winner];
        econ e = econ_for(c);
        int r = runner_up(cd, c);
        char ru[64] = "none";
        if (r >= 0)
            snprintf(ru, sizeof ru, "%s, $%.2f/h", c->best[r].accel, c->best[r].usd_h);
        fprintf(f, "| %s | %s | %d x TP %d | %.2f | %s | %s; %s ranks %d of %d in %s |\n",
                c->name, b->accel, b->scale, b->tp, b->usd_h, ru, why_class(c), b->accel,
                econ_rank(cd, c->winner, e), cd->nacc, econ_name[e]);
    }
    double mixed = mixed_fleet(cd), best = -1;
    int ba = -1;
    for (int a = 0; a < cd->nacc; a++) {
        double s = single_fleet(cd, a);
        if (s >= 0 && (ba < 0 || s < best))
            best = s, ba = a;
    }
    fprintf(f, "\n## Mixed fleet against a single-accelerator fleet\n\n");
    if (mixed >= 0)
        fprintf(f, "- mixed fleet (each class on its cheapest accelerator): **$%.2f/h**\n",
                mixed);
    if (ba >= 0)
        fprintf(f, "- best single-accelerator fleet: **%s, $%.2f/h** (%+.0f%% against "
                   "mixed)\n", cd->acc[ba].name, best, mixed > 0 ? (best / mixed - 1) * 100 : 0);
    md_mixed_why(f, cd, mixed, ba, best);
    fprintf(f, "\n| accelerator | all classes, $/h |\n|---|---:|\n");
    for (int a = 0; a < cd->nacc; a++) {
        double s = single_fleet(cd, a);
        if (s >= 0)
            fprintf(f, "| %s | %.2f |\n", cd->acc[a].name, s);
        else
            fprintf(f, "| %s | cannot serve every class |\n", cd->acc[a].name);
    }
    fputc('\n', f);
}

static void md_econ(FILE *f, const card *cd)
{
    fprintf(f, "## Accelerator economics (catalogue prices)\n\n| accelerator | $/h | memory "
               "GB | TB/s | BF16 TFLOP/s | GB per $/h | TB/s per $/h | TFLOP/s per $/h "
               "|\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int a = 0; a < cd->nacc; a++) {
        const fm_accel *x = &cd->acc[a];
        fprintf(f, "| %s | %.2f | %.0f | %.2f | %.0f | %.1f | %.2f | %.0f |\n", x->name,
                x->price_per_hour, x->mem_bytes / 1e9, x->mem_bw / 1e12, x->bf16_flops / 1e12,
                econ_of(x, E_MEM), econ_of(x, E_BW), econ_of(x, E_FLOPS));
    }
    fputc('\n', f);
}

static void write_md(FILE *f, const card *cd)
{
    fprintf(f, "# Hardware-purchase scorecard\n\nFor each workload class, the cheapest "
               "configuration (TP degree, replicas) per accelerator that meets the class's "
               "SLOs at its arrival rate (%d requests a run, bisection on replicas up to "
               "%d), with catalogue prices.\n\n", cd->requests, cd->max_replicas);
    md_summary(f, cd);
    fprintf(f, "## Per class\n\n");
    for (int k = 0; k < cd->ncls; k++)
        md_class(f, cd, &cd->cls[k]);
    md_econ(f, cd);
}

/* --- HTML: the same tables, and one bar chart ($/h per accelerator) per class --- */

static void html_bars(FILE *f, const card *cd, const klass *k)
{
    double top = 0;
    for (int a = 0; a < cd->nacc; a++)
        if (k->best[a].feasible && k->best[a].usd_h > top)
            top = k->best[a].usd_h;
    int h = 22 * cd->nacc + 10;
    fprintf(f, "<h3>%s: cost per hour of the cheapest configuration</h3>\n<svg width=\"640\" "
               "height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", k->name, h);
    for (int a = 0; a < cd->nacc; a++) {
        const fs_plan_cand *c = &k->best[a];
        int y = 5 + 22 * a, w = c->feasible && top > 0 ? (int)(400 * c->usd_h / top) : 0;
        fprintf(f, "<text x=\"0\" y=\"%d\">%s</text>", y + 14, cd->acc[a].name);
        if (c->feasible)
            fprintf(f, "<rect x=\"110\" y=\"%d\" width=\"%d\" height=\"16\" fill=\"%s\"/>"
                       "<text x=\"%d\" y=\"%d\">$%.2f/h</text>\n", y, w < 1 ? 1 : w,
                    a == k->winner ? "#2a7" : "#69c", 116 + w, y + 14, c->usd_h);
        else
            fprintf(f, "<text x=\"110\" y=\"%d\" fill=\"#999\">%s</text>\n", y + 14,
                    c->why[0] ? "cannot hold the model" : "misses the SLOs");
    }
    fprintf(f, "</svg>\n");
}

/* Markdown tables to HTML: a small converter for what write_md emits. */
static void html_from_md(FILE *out, const char *md)
{
    const char *p = md;
    bool table = false;
    while (*p) {
        const char *e = strchr(p, '\n');
        int len = e ? (int)(e - p) : (int)strlen(p);
        if (len > 0 && p[0] == '|') {
            if (strncmp(p, "|---", 4) != 0) {
                fprintf(out, "%s<tr>", table ? "" : "<table>\n");
                table = true;
                const char *c = p + 1;
                while (c < p + len) {
                    const char *n = memchr(c, '|', (size_t)(p + len - c));
                    if (!n)
                        break;
                    fprintf(out, "<td>%.*s</td>", (int)(n - c), c);
                    c = n + 1;
                }
                fprintf(out, "</tr>\n");
            }
        } else {
            if (table)
                fprintf(out, "</table>\n");
            table = false;
            int lvl = 0;
            while (lvl < len && p[lvl] == '#')
                lvl++;
            if (lvl)
                fprintf(out, "<h%d>%.*s</h%d>\n", lvl, len - lvl - 1, p + lvl + 1, lvl);
            else if (len)
                fprintf(out, "<p>%.*s</p>\n", len, p);
        }
        p = e ? e + 1 : p + len;
    }
    if (table)
        fprintf(out, "</table>\n");
}

static int write_html(const char *path, const card *cd)
{
    char *md = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&md, &len);
    if (!m)
        return -ENOMEM;
    write_md(m, cd);
    fclose(m);
    FILE *f = fopen(path, "w");
    if (!f)
        return free(md), -errno;
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>fleetsim "
               "scorecard</title><style>body{font-family:sans-serif;max-width:70em;margin:"
               "auto}table{border-collapse:collapse}td{border:1px solid #ccc;padding:2px "
               "6px}</style></head><body>\n");
    html_from_md(f, md);
    for (int k = 0; k < cd->ncls; k++)
        html_bars(f, cd, &cd->cls[k]);
    fprintf(f, "</body></html>\n");
    free(md);
    return fclose(f) == 0 ? 0 : -EIO;
}

/* --- options --- */

static int add_class(card *cd, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || eq - arg >= 32 || !eq[1] || cd->ncls == MAX_CLASSES)
        return fprintf(stderr, "fleetsim scorecard: --class expects NAME=SCENARIO "
                               "(at most %d)\n", MAX_CLASSES), -1;
    klass *k = &cd->cls[cd->ncls++];
    snprintf(k->name, sizeof k->name, "%.*s", (int)(eq - arg), arg);
    snprintf(k->path, sizeof k->path, "%s", eq + 1);
    return 0;
}

static void default_classes(card *cd)
{
    static const char *const names[] = {"chat", "long-context", "batch"};
    for (int i = 0; i < 3; i++) {
        klass *k = &cd->cls[cd->ncls++];
        snprintf(k->name, sizeof k->name, "%s", names[i]);
        snprintf(k->path, sizeof k->path, "%s/scenarios/scorecard-%s.yaml", FLEETSIM_SRCDIR,
                 names[i]);
    }
}

/* The accelerators: those named in `list` (comma-separated), or the catalogue's. */
static int load_accels(card *cd, const char *list, const fs_run_opts *ro)
{
    fm_catalog *cat = NULL;
    char *err = NULL, *copy = list ? strdup(list) : NULL, *save = NULL;
    int rc = fm_catalog_load_dir(ro->catalog ? ro->catalog : fm_default_catalog_dir(), &cat,
                                 &err);
    for (size_t i = 0; rc == 0 && !list && i < fm_catalog_n_accels(cat) && i < MAX_ACCELS; i++)
        cd->acc[cd->nacc++] = *fm_catalog_accel_at(cat, i);
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; rc == 0 && t;
         t = strtok_r(NULL, ",", &save)) {
        const fm_accel *a = fm_catalog_accel(cat, t);
        if (!a || cd->nacc == MAX_ACCELS)
            rc = -EINVAL, err = fu_asprintf("--accelerators: '%s' is not in the catalogue", t);
        else
            cd->acc[cd->nacc++] = *a;
    }
    if (rc != 0)
        fprintf(stderr, "fleetsim scorecard: %s\n", err ? err : strerror(-rc));
    free(err);
    free(copy);
    fm_catalog_free(cat);
    return rc;
}

static int num_opt(const char *arg, int lo, int hi, int *out, const char *name)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || v < lo || v > hi)
        return fprintf(stderr, "fleetsim scorecard: %s expects %d..%d\n", name, lo, hi), -1;
    *out = (int)v;
    return 0;
}

typedef struct sc_cli {
    const char *accels, *md, *html;
} sc_cli;

static int sc_opt(card *cd, sc_cli *cli, fs_run_opts *ro, int c, const char *arg)
{
    switch (c) {
    case 'C': return add_class(cd, arg);
    case 'a': return cli->accels = arg, 0;
    case 'm': return cli->md = arg, 0;
    case 'H': return cli->html = arg, 0;
    case 'r': return num_opt(arg, 1, 4096, &cd->max_replicas, "--max-replicas");
    case 'n': return num_opt(arg, 10, 10000000, &cd->requests, "--requests");
    case 'c': return fs_run_opt(ro, c, arg, "scorecard");
    default: return -1;
    }
}

static int report(const card *cd, const sc_cli *cli)
{
    FILE *f = cli->md ? fopen(cli->md, "w") : stdout;
    if (!f)
        return fprintf(stderr, "fleetsim scorecard: %s: %s\n", cli->md, strerror(errno)),
               FS_EXIT_USAGE;
    write_md(f, cd);
    if (cli->md && fclose(f) != 0)
        return fprintf(stderr, "fleetsim scorecard: %s: write failed\n", cli->md),
               FS_EXIT_USAGE;
    int rc = cli->html ? write_html(cli->html, cd) : 0;
    if (rc != 0)
        fprintf(stderr, "fleetsim scorecard: %s: %s\n", cli->html, strerror(-rc));
    return rc ? FS_EXIT_USAGE : FS_EXIT_OK;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {
        {"class", required_argument, NULL, 'C'}, {"accelerators", required_argument, NULL, 'a'},
        {"md", required_argument, NULL, 'm'}, {"html", required_argument, NULL, 'H'},
        {"max-replicas", required_argument, NULL, 'r'},
        {"requests", required_argument, NULL, 'n'}, {"catalog", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    static card cd;
    memset(&cd, 0, sizeof cd);
    cd = (card){.tps = {1, 2, 4, 8}, .ntps = 4, .max_replicas = 32, .requests = 300};
    sc_cli cli = {0};
    fs_run_opts ro = {.no_db = true, .quiet = true};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            return usage(stdout), FS_EXIT_OK;
        if (sc_opt(&cd, &cli, &ro, c, optarg) != 0)
            return usage(stderr), FS_EXIT_USAGE;
    }
    if (optind != argc)
        return usage(stderr), FS_EXIT_USAGE;
    if (cd.ncls == 0)
        default_classes(&cd);
    if (load_accels(&cd, cli.accels, &ro) != 0)
        return FS_EXIT_USAGE;
    /* every run's request count: a generator generates it, a trace yields its first */
    ro.requests = (uint64_t)cd.requests;
    for (int k = 0; k < cd.ncls; k++)
        if (search_class(&cd, &cd.cls[k], &ro) != 0)
            return FS_EXIT_USAGE;
    return report(&cd, &cli);
}

const fs_cmd fs_cmd_scorecard = {"scorecard", "cheapest accelerator per workload class "
                                              "(hardware-purchase report)", run};
