/*
 * results.c: the results store's schema, its migrations and the writer of one run.
 *
 * Workload: a run writes up to tens of millions of request rows and a time-series row
 * per replica per second while the simulation goes on, possibly beside other processes
 * writing other runs into the same file. Rows are therefore buffered in memory and
 * flushed every BATCH_ROWS rows in a short BEGIN IMMEDIATE transaction through
 * prepared statements, so the write lock is held only while rows are inserted and
 * never across simulated work. Rejected: one transaction per row (a commit per
 * request costs more than the simulation of it) and one transaction for the whole
 * run (holds the write lock for the whole run, and a kill would lose every row).
 *
 * Inserting costs about 2.5 us a row, a fifth of what simulating a request costs, so
 * full batches are written by a writer thread while the simulation fills the other of
 * two buffers (double buffering); the connection is used by one thread at a time,
 * handed over under a mutex. Where the thread cannot be started, batches are written
 * in the caller's thread instead: slower, same result.
 * Tables are WITHOUT ROWID with the run id first in the key, so a run's rows lie
 * together and rows arrive in key order (cheap appends).
 *
 * Reading, comparing, exporting and merging live in results_read.c.
 */
#include "results.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "config.h"
#include "fu_yaml.h"

#include "results_impl.h"

#define BATCH_ROWS 4096
#define APPLICATION_ID 0x464c5453  /* "FLTS" */

typedef struct batch {
    fs_req_record reqs[BATCH_ROWS];
    fs_replica_sample samples[BATCH_ROWS];
    int nreqs, nsamples;
    int64_t seq_end;          /* requests buffered up to the end of this batch */
} batch;

struct fs_results_run {
    fs_results *db;
    int64_t id;
    bool store_requests;
    sqlite3_stmt *ins_req, *ins_sample, *upd_count;
    batch buf[2];
    batch *fill;              /* filled by the simulation */
    int64_t seq;              /* requests buffered so far */
    bool failed;              /* the simulation's copy of rc != 0 */
    /* the writer thread; everything below is under mu */
    pthread_t thread;
    bool threaded, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch *pending;           /* handed to the writer; NULL when it is idle */
    int rc;                   /* first error, latched */
    char *err;
};

static void *writer_main(void *arg);
static void writer_stop(fs_results_run *w);

/* --- schema: one entry per version; entry i brings version i to i+1 --- */

static const char *const migrations[] = {
    /* 1: runs, per-request records, summaries, time series */
    "PRAGMA application_id = 1179407443;\n"
    "CREATE TABLE runs (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  scenario TEXT NOT NULL, scenario_file TEXT, scenario_text TEXT NOT NULL,\n"
    "  scenario_hash TEXT NOT NULL, seed INTEGER NOT NULL,\n"
    "  model TEXT, fleet TEXT, accelerators INTEGER,\n"
    "  fleetsim_version TEXT NOT NULL, started_at TEXT NOT NULL, wall_s REAL,\n"
    "  status TEXT NOT NULL CHECK (status IN ('incomplete', 'complete')),\n"
    "  error TEXT, requests_stored INTEGER NOT NULL DEFAULT 0, sample_period_s REAL,\n"
    "  summary_text TEXT, result_json TEXT);\n"
    "CREATE TABLE requests (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,\n"
    "  id INTEGER NOT NULL, arrival_s REAL NOT NULL,\n"
    "  prefill_replica INTEGER, decode_replica INTEGER,\n"
    "  queue_s REAL, ttft_s REAL, tpot_s REAL, e2e_s REAL,\n"
    "  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,\n"
    "  cached_tokens INTEGER NOT NULL, preemptions INTEGER NOT NULL,\n"
    "  kv_transfer_s REAL, rejected INTEGER NOT NULL,\n"
    "  PRIMARY KEY (run_id, seq)) WITHOUT ROWID;\n"
    "CREATE TABLE summary (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), metric TEXT NOT NULL, value REAL,\n"
    "  PRIMARY KEY (run_id, metric)) WITHOUT ROWID;\n"
    "CREATE TABLE samples (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), t_s REAL NOT NULL,\n"
    "  replica INTEGER NOT NULL, waiting INTEGER NOT NULL, running INTEGER NOT NULL,\n"
    "  kv_usage REAL NOT NULL, input_tps REAL NOT NULL, output_tps REAL NOT NULL,\n"
    "  utilisation REAL NOT NULL, power_w REAL NOT NULL,\n"
    "  PRIMARY KEY (run_id, t_s, replica)) WITHOUT ROWID;\n",

    /* 2: names, tags, and a unique id per run so that merges recognise copies */
    "ALTER TABLE runs ADD COLUMN name TEXT;\n"
    "ALTER TABLE runs ADD COLUMN uid TEXT;\n"
    "UPDATE runs SET name = scenario, uid = lower(hex(randomblob(16)));\n"
    "CREATE UNIQUE INDEX runs_uid ON runs(uid);\n"
    "CREATE INDEX runs_name ON runs(name);\n"
    "CREATE TABLE run_tags (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id), tag TEXT NOT NULL,\n"
    "  PRIMARY KEY (run_id, tag)) WITHOUT ROWID;\n"
    "CREATE INDEX run_tags_tag ON run_tags(tag);\n",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == FS_RESULTS_SCHEMA_VERSION,
               "one migration per schema version");

int fsr_fail(fs_results *db, char **err, const char *what)
{
    if (err)
        *err = fu_asprintf("%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
    return -EIO;
}

int fsr_exec(fs_results *db, const char *sql, char **err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    if (err)
        *err = fu_asprintf("%s: %s", db->path, msg ? msg : sqlite3_errmsg(db->h));
    sqlite3_free(msg);
    return -EIO;
}

/* The integer a one-row, one-column query returns; -1 on error. */
static int64_t query_int(fs_results *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* What version the file is at, with checks that it is ours. */
static int schema_version(fs_results *db, int *version, char **err)
{
    int64_t v = query_int(db, "PRAGMA user_version");
    int64_t app = query_int(db, "PRAGMA application_id");
    int64_t tables = query_int(db, "SELECT count(*) FROM sqlite_master");
    if (v < 0 || app < 0 || tables < 0)
        return fsr_fail(db, err, "not a readable SQLite database");
    if ((v == 0 && tables > 0) || (v > 0 && app != APPLICATION_ID)) {
        *err = fu_asprintf("%s: not a fleetsim results database", db->path);
        return -EINVAL;
    }
    if (v > FS_RESULTS_SCHEMA_VERSION) {
        *err = fu_asprintf("%s: written by a newer fleetsim (schema version %" PRId64
                           ", this one knows up to %d)", db->path, v,
                           FS_RESULTS_SCHEMA_VERSION);
        return -EINVAL;
    }
    *version = (int)v;
    return 0;
}

/* One migration step in its own transaction; the version is re-read under the write
 * lock so that two processes opening a fresh file do not both migrate it. */
static int migrate_step(fs_results *db, bool *done, char **err)
{
    int v, rc = fsr_exec(db, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = schema_version(db, &v, err);
    if (rc == 0 && v == FS_RESULTS_SCHEMA_VERSION) {
        *done = true;
        return fsr_exec(db, "COMMIT", err);
    }
    if (rc == 0)
        rc = fsr_exec(db, migrations[v], err);
    if (rc == 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
        rc = fsr_exec(db, sql, err);
    }
    if (rc == 0)
        return fsr_exec(db, "COMMIT", err);
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int migrate(fs_results *db, char **err)
{
    bool done = false;
    int rc = 0;
    while (rc == 0 && !done)
        rc = migrate_step(db, &done, err);
    return rc;
}

/* WAL lets readers (results list, a report) run beside a writing run; NORMAL
 * synchronisation is safe in WAL mode (a crash loses the last commits, not the file).
 * The busy timeout lets a sweep's workers take turns at the write lock. */
static int configure(fs_results *db, char **err)
{
    sqlite3_busy_timeout(db->h, 60000);
    int v, rc = schema_version(db, &v, err);
    if (rc == 0)
        rc = fsr_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL", err);
    return rc == 0 ? migrate(db, err) : rc;
}

int fs_results_open(const char *path, bool create, fs_results **out, char **err)
{
    *out = NULL;
    fs_results *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        *err = fu_asprintf("out of memory");
        return -ENOMEM;
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = 0;
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
        *err = create || !db->h || sqlite3_errcode(db->h) != SQLITE_CANTOPEN
                   ? fu_asprintf("%s: cannot open: %s", path,
                                 db->h ? sqlite3_errmsg(db->h) : "out of memory")
                   : fu_asprintf("%s: no such results database", path);
        rc = -ENOENT;
    }
    if (rc == 0)
        rc = configure(db, err);
    if (rc != 0) {
        fs_results_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void fs_results_close(fs_results *db)
{
    if (!db)
        return;
    sqlite3_close(db->h);
    free(db->path);
    free(db);
}

const char *fs_results_path(const fs_results *db)
{
    return db->path;
}

sqlite3 *fs_results_handle(fs_results *db)
{
    return db->h;
}

/* --- writing a run --- */

static const char INSERT_RUN[] =
    "INSERT INTO runs (uid, name, scenario, scenario_file, scenario_text, scenario_hash,"
    " seed, model, fleet, accelerators, fleetsim_version, started_at, status,"
    " requests_stored, sample_period_s)"
    " VALUES (lower(hex(randomblob(16))), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
    " strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), 'incomplete', 0, ?11)";

/* "2 x H100-SXM, tp 1", or per pool "prefill: 2 x H100-SXM, tp 1 + decode: ..."; the
 * total accelerator count goes to *accelerators. */
static void fleet_text(const fs_scenario *sc, char *buf, size_t size, int *accelerators)
{
    size_t n = 0;
    *accelerators = 0;
    buf[0] = '\0';
    for (int i = 0; i < sc->npools && n < size; i++) {
        const fs_pool *p = &sc->pools[i];
        n += (size_t)snprintf(buf + n, size - n, sc->npools > 1 ? "%s%s: %d x %s, tp %d"
                              : "%s%.0s%d x %s, tp %d", i ? " + " : "", p->name,
                              p->replicas, p->accel.name, p->tp);
        *accelerators += p->replicas * p->tp;
    }
}

static int bind_run(sqlite3_stmt *st, const fs_scenario *sc, const fs_run_meta *m)
{
    char hash[17], fleet[512];
    int accelerators;
    const char *text = sc->text ? sc->text : "";
    const char *file = strrchr(sc->path, '/') ? strrchr(sc->path, '/') + 1 : sc->path;
    snprintf(hash, sizeof hash, "%016" PRIx64, (uint64_t)XXH64(text, strlen(text), 0));
    fleet_text(sc, fleet, sizeof fleet, &accelerators);
    int rc = sqlite3_bind_text(st, 1, m->name ? m->name : sc->name, -1, SQLITE_TRANSIENT);
    rc |= sqlite3_bind_text(st, 2, sc->name, -1, SQLITE_TRANSIENT);
    rc |= sqlite3_bind_text(st, 3, file, -1, SQLITE_TRANSIENT);
    rc |= sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(st, 5, hash, -1, SQLITE_TRANSIENT);
    rc |= sqlite3_bind_int64(st, 6, (sqlite3_int64)sc->seed);
    rc |= sqlite3_bind_text(st, 7, sc->llm.name, -1, SQLITE_TRANSIENT);
    rc |= sqlite3_bind_text(st, 8, fleet, -1, SQLITE_TRANSIENT);
    rc |= sqlite3_bind_int(st, 9, accelerators);
    rc |= sqlite3_bind_text(st, 10, PACKAGE_VERSION, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_double(st, 11, m->sample_period_s);
    return rc;
}

int fsr_exec_bound(fs_results *db, const char *sql, int64_t id, const char *text,
                   char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        return fsr_fail(db, err, "preparing a statement");
    sqlite3_bind_int64(st, 1, id);
    if (text)
        sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fsr_fail(db, err, "writing");
}

static int insert_run(fs_results *db, const fs_scenario *sc, const fs_run_meta *m,
                      int64_t *id, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->h, INSERT_RUN, -1, &st, NULL) != SQLITE_OK)
        return fsr_fail(db, err, "preparing the run");
    int rc = bind_run(st, sc, m) == SQLITE_OK && sqlite3_step(st) == SQLITE_DONE
                 ? 0 : fsr_fail(db, err, "inserting the run");
    sqlite3_finalize(st);
    *id = sqlite3_last_insert_rowid(db->h);
    for (int i = 0; rc == 0 && i < m->ntags; i++)
        rc = fsr_exec_bound(db, "INSERT OR IGNORE INTO run_tags VALUES (?1, ?2)", *id,
                        m->tags[i], err);
    return rc;
}

static int prepare_writer(fs_results_run *w, char **err)
{
    static const char *const sql[] = {
        "INSERT INTO requests VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)",
        "INSERT INTO samples VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
        "UPDATE runs SET requests_stored = ?2 WHERE id = ?1",
    };
    sqlite3_stmt **st[] = {&w->ins_req, &w->ins_sample, &w->upd_count};
    for (int i = 0; i < 3; i++)
        if (sqlite3_prepare_v3(w->db->h, sql[i], -1, SQLITE_PREPARE_PERSISTENT, st[i],
                               NULL) != SQLITE_OK)
            return fsr_fail(w->db, err, "preparing the writer");
    return 0;
}

static void writer_free(fs_results_run *w)
{
    writer_stop(w);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    sqlite3_finalize(w->ins_req);
    sqlite3_finalize(w->ins_sample);
    sqlite3_finalize(w->upd_count);
    free(w->err);
    free(w);
}

int fs_results_run_begin(fs_results *db, const fs_scenario *sc, const fs_run_meta *meta,
                         fs_results_run **out, char **err)
{
    *out = NULL;
    fs_results_run *w = calloc(1, sizeof *w);
    if (!w) {
        *err = fu_asprintf("out of memory");
        return -ENOMEM;
    }
    w->db = db;
    w->store_requests = meta->store_requests;
    w->fill = &w->buf[0];
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = fsr_exec(db, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = insert_run(db, sc, meta, &w->id, err);
    if (rc == 0)
        rc = fsr_exec(db, "COMMIT", err);
    else
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    if (rc == 0)
        rc = prepare_writer(w, err);
    if (rc != 0) {
        writer_free(w);
        return rc;
    }
    w->threaded = pthread_create(&w->thread, NULL, writer_main, w) == 0;
    *out = w;
    return 0;
}

int64_t fs_results_run_id(const fs_results_run *w)
{
    return w->id;
}

static double secs(fs_ns t)
{
    return (double)t / 1e9;
}

/* Binds `v` as a REAL, or NULL when `defined` is false. */
static int bind_opt(sqlite3_stmt *st, int i, bool defined, double v)
{
    return defined ? sqlite3_bind_double(st, i, v) : sqlite3_bind_null(st, i);
}

/* The prefill replica and the KV transfer time are NULL unless the request was
 * disaggregated (a prefill replica is named). */
static int write_request(fs_results_run *w, const fs_req_record *r, int64_t seq)
{
    sqlite3_stmt *st = w->ins_req;
    bool served = r->output_tokens > 0, pd = served && r->prefill_replica >= 0;
    int rc = sqlite3_bind_int64(st, 1, w->id);
    rc |= sqlite3_bind_int64(st, 2, seq);
    rc |= sqlite3_bind_int64(st, 3, (sqlite3_int64)r->id);
    rc |= sqlite3_bind_double(st, 4, secs(r->arrival));
    rc |= pd ? sqlite3_bind_int(st, 5, r->prefill_replica) : sqlite3_bind_null(st, 5);
    rc |= served ? sqlite3_bind_int(st, 6, r->replica) : sqlite3_bind_null(st, 6);
    rc |= bind_opt(st, 7, served, secs(r->first_scheduled - r->arrival));
    rc |= bind_opt(st, 8, served, secs(r->first_token - r->arrival));
    rc |= bind_opt(st, 9, r->output_tokens >= 2,
                   secs(r->finish - r->first_token) / (r->output_tokens - 1));
    rc |= bind_opt(st, 10, served, secs(r->finish - r->arrival));
    rc |= sqlite3_bind_int64(st, 11, r->input_tokens);
    rc |= sqlite3_bind_int64(st, 12, r->output_tokens);
    rc |= sqlite3_bind_int64(st, 13, r->cached_tokens);
    rc |= sqlite3_bind_int64(st, 14, r->preemptions);
    rc |= bind_opt(st, 15, pd, secs(r->kv_transfer));
    rc |= sqlite3_bind_int(st, 16, !served);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(st);
    return rc;
}

static int write_sample(fs_results_run *w, const fs_replica_sample *s)
{
    sqlite3_stmt *st = w->ins_sample;
    int rc = sqlite3_bind_int64(st, 1, w->id);
    rc |= sqlite3_bind_double(st, 2, secs(s->t));
    rc |= sqlite3_bind_int(st, 3, s->replica);
    rc |= sqlite3_bind_int(st, 4, s->waiting);
    rc |= sqlite3_bind_int(st, 5, s->running);
    rc |= sqlite3_bind_double(st, 6, s->kv_usage);
    rc |= sqlite3_bind_double(st, 7, s->input_tps);
    rc |= sqlite3_bind_double(st, 8, s->output_tps);
    rc |= sqlite3_bind_double(st, 9, s->utilisation);
    rc |= sqlite3_bind_double(st, 10, s->power_w);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_reset(st);
    return rc;
}

/* Writes a batch's rows inside the caller's transaction and empties it. */
static int write_batch(fs_results_run *w, batch *b, char **err)
{
    int64_t first = b->seq_end - b->nreqs;
    for (int i = 0; i < b->nreqs; i++)
        if (write_request(w, &b->reqs[i], first + i) != SQLITE_OK)
            return fsr_fail(w->db, err, "writing requests");
    for (int i = 0; i < b->nsamples; i++)
        if (write_sample(w, &b->samples[i]) != SQLITE_OK)
            return fsr_fail(w->db, err, "writing the time series");
    sqlite3_bind_int64(w->upd_count, 1, w->id);
    sqlite3_bind_int64(w->upd_count, 2, b->seq_end);
    int rc = sqlite3_step(w->upd_count);
    sqlite3_reset(w->upd_count);
    if (rc != SQLITE_DONE)
        return fsr_fail(w->db, err, "updating the run");
    b->nreqs = b->nsamples = 0;
    return 0;
}

/* One batch in one transaction; 0 or the error, with its message in *err. */
static int write_txn(fs_results_run *w, batch *b, char **err)
{
    int rc = fsr_exec(w->db, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = write_batch(w, b, err);
    if (rc == 0)
        rc = fsr_exec(w->db, "COMMIT", err);
    if (rc != 0)
        sqlite3_exec(w->db->h, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Keeps the first error (call under mu when threaded). */
static void latch(fs_results_run *w, int rc, char *err)
{
    if (rc != 0 && w->rc == 0) {
        w->rc = rc;
        w->err = err;
    } else {
        free(err);
    }
}

static void *writer_main(void *arg)
{
    fs_results_run *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->pending && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->pending)
            break;
        batch *b = w->pending;
        bool skip = w->rc != 0;
        pthread_mutex_unlock(&w->mu);
        char *err = NULL;
        int rc = skip ? 0 : write_txn(w, b, &err);
        b->nreqs = b->nsamples = 0;
        pthread_mutex_lock(&w->mu);
        latch(w, rc, err);
        w->pending = NULL;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Waits until the writer is idle; returns whether an error was latched. */
static bool wait_idle(fs_results_run *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->pending)
        pthread_cond_wait(&w->cv, &w->mu);
    bool failed = w->rc != 0;
    pthread_mutex_unlock(&w->mu);
    return failed;
}

/* Hands the full buffer to the writer and goes on filling the other one. */
static void flush(fs_results_run *w)
{
    batch *full = w->fill;
    full->seq_end = w->seq;
    if (!w->threaded) {
        char *err = NULL;
        latch(w, write_txn(w, full, &err), err);
        w->failed = w->rc != 0;
        return;
    }
    w->failed = wait_idle(w);
    pthread_mutex_lock(&w->mu);
    w->pending = full;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    w->fill = full == &w->buf[0] ? &w->buf[1] : &w->buf[0];
}

/* Stops the writer thread after its last batch (idempotent). */
static void writer_stop(fs_results_run *w)
{
    if (!w->threaded)
        return;
    wait_idle(w);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    w->threaded = false;
}

void fs_results_run_request(fs_results_run *w, const fs_req_record *r)
{
    if (!w->store_requests || w->failed)
        return;
    w->fill->reqs[w->fill->nreqs++] = *r;
    w->seq++;
    if (w->fill->nreqs == BATCH_ROWS)
        flush(w);
}

void fs_results_run_sample(fs_results_run *w, const fs_replica_sample *s)
{
    if (w->failed)
        return;
    w->fill->samples[w->fill->nsamples++] = *s;
    if (w->fill->nsamples == BATCH_ROWS)
        flush(w);
}

/* --- finishing: the summary, flattened to dotted names --- */

static int put_metric(fs_results_run *w, sqlite3_stmt *st, const char *name, const json_t *v)
{
    sqlite3_bind_int64(st, 1, w->id);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    if (json_is_number(v))
        sqlite3_bind_double(st, 3, json_number_value(v));
    else if (json_is_boolean(v))
        sqlite3_bind_double(st, 3, json_is_true(v) ? 1 : 0);
    else
        sqlite3_bind_null(st, 3);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Every number, boolean and null under `o`, named prefix.key.key; strings are skipped
 * (they are in result_json). */
static int put_metrics(fs_results_run *w, sqlite3_stmt *st, const char *prefix,
                       const json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        int rc = json_is_object(v) ? put_metrics(w, st, name, v)
                 : json_is_string(v) || json_is_array(v) ? 0
                 : put_metric(w, st, name, v);
        if (rc)
            return rc;
    }
    return 0;
}

static int write_summary(fs_results_run *w, const json_t *result, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(w->db->h, "INSERT OR REPLACE INTO summary VALUES (?1, ?2, ?3)",
                           -1, &st, NULL) != SQLITE_OK)
        return fsr_fail(w->db, err, "preparing the summary");
    const json_t *summary = json_object_get(result, "summary");
    const json_t *kv = json_object_get(result, "kv_cache");
    int rc = summary ? put_metrics(w, st, "", summary) : 0;
    if (rc == 0 && kv)
        rc = put_metrics(w, st, "kv_cache", kv);
    sqlite3_finalize(st);
    return rc ? fsr_fail(w->db, err, "writing the summary") : 0;
}

static int mark_complete(fs_results_run *w, const char *text, const char *json,
                         double wall_s, char **err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(w->db->h,
                           "UPDATE runs SET status = 'complete', wall_s = ?2,"
                           " summary_text = ?3, result_json = ?4 WHERE id = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return fsr_fail(w->db, err, "preparing the run's update");
    sqlite3_bind_int64(st, 1, w->id);
    sqlite3_bind_double(st, 2, wall_s);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, json, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : fsr_fail(w->db, err, "completing the run");
    sqlite3_finalize(st);
    return rc;
}

static int finish_txn(fs_results_run *w, const char *text, const json_t *result,
                      double wall_s, char **err)
{
    char *json = json_dumps(result, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!json) {
        *err = fu_asprintf("out of memory");
        return -ENOMEM;
    }
    w->fill->seq_end = w->seq;
    int rc = fsr_exec(w->db, "BEGIN IMMEDIATE", err);
    if (rc == 0)
        rc = write_batch(w, w->fill, err);
    if (rc == 0)
        rc = write_summary(w, result, err);
    if (rc == 0)
        rc = mark_complete(w, text, json, wall_s, err);
    if (rc == 0)
        rc = fsr_exec(w->db, "COMMIT", err);
    if (rc != 0)
        sqlite3_exec(w->db->h, "ROLLBACK", NULL, NULL, NULL);
    free(json);
    return rc;
}

int fs_results_run_finish(fs_results_run *w, const char *text, const json_t *result,
                          double wall_s, char **err)
{
    writer_stop(w);
    int rc = w->rc;
    if (rc != 0) {
        *err = w->err;
        w->err = NULL;
    } else {
        rc = finish_txn(w, text, result, wall_s, err);
    }
    if (rc != 0)
        fs_results_run_abandon(w, *err);
    else
        writer_free(w);
    return rc;
}

void fs_results_run_abandon(fs_results_run *w, const char *why)
{
    if (!w)
        return;
    writer_stop(w);           /* the batch in flight commits; then the connection is ours */
    if (why)
        fsr_exec_bound(w->db, "UPDATE runs SET error = ?2 WHERE id = ?1", w->id, why, NULL);
    writer_free(w);
}
