/*
 * sqlite.c - the alternative a user would pick: SQLite in WAL mode, one
 * WITHOUT ROWID table keyed by (journal, position), prepared statements,
 * one connection per thread. SQLite has no catalog: a journal is its id.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct sq_journal {
    sqlite3 *db;
    sqlite3_stmt *ins, *get, *rng, *bnd, *wbegin, *rbegin, *commit, *rollback;
};

static struct sq_journal *sj_of(const struct bjournal *h)
{
    return h->priv;
}

static int sq_fail(sqlite3 *db, const char *what, int rc)
{
    return fail("sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static int sq_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        rc = fail("sqlite: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

/* Runs a statement that returns no row, and resets it. */
static int sq_step_done(sqlite3 *db, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? 0 : sq_fail(db, sqlite3_sql(stmt), rc);
}

static void sq_file(const struct bstore *st, char *buf, size_t n)
{
    snprintf(buf, n, "%s/bench.sqlite", st->path);
}

static int sq_store_open(struct bstore *st)
{
    char file[PATH_MAX + 16];
    sqlite3 *db = NULL;
    int rc;

    if (mkdir_store(st->path) != 0)
        return BENCH_FAIL;
    sq_file(st, file, sizeof file);
    rc = sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_fail(db, file, rc);
        goto out;
    }
    sqlite3_busy_timeout(db, 60000);
    if ((rc = sq_exec(db, "PRAGMA journal_mode=WAL")) != 0)
        goto out;
    rc = sq_exec(db, "CREATE TABLE IF NOT EXISTS records(journal INTEGER NOT NULL, position INTEGER NOT NULL, "
                     "data BLOB NOT NULL, PRIMARY KEY(journal, position)) WITHOUT ROWID");
out:
    sqlite3_close(db);
    return rc;
}

/* Each journal handle has its own connection. */
static int sq_store_close(struct bstore *st)
{
    (void)st;
    return 0;
}

static int sq_prepare(struct bjournal *h, const char *sql, sqlite3_stmt **stmt)
{
    int rc = sqlite3_prepare_v3(sj_of(h)->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(sj_of(h)->db, sql, rc);
}

static int sq_bounds(struct bjournal *h, journal_pos *begin, journal_pos *end);

static int sq_journal_open(struct bjournal *h)
{
    static const char *const sync_pragma[] = {"PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL",
                                              "PRAGMA synchronous=OFF"};
    struct sq_journal *s = calloc(1, sizeof *s);
    char file[PATH_MAX + 16];
    journal_pos begin;
    int rc;

    if (!(h->priv = s))
        return fail("out of memory");
    sq_file(h->st, file, sizeof file);
    /* One connection per thread, as SQLite wants; it needs no mutex then. */
    rc = sqlite3_open_v2(file, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s->db, file, rc);
    sqlite3_busy_timeout(s->db, 60000);
    if ((rc = sq_exec(s->db, sync_pragma[h->st->dur])) != 0 ||
        (rc = sq_prepare(h, "INSERT INTO records(journal, position, data) VALUES(?1, ?2, ?3)", &s->ins)) != 0 ||
        (rc = sq_prepare(h, "SELECT data FROM records WHERE journal = ?1 AND position = ?2", &s->get)) != 0 ||
        (rc =
             sq_prepare(h, "SELECT position, data FROM records WHERE journal = ?1 AND position >= ?2 ORDER BY position",
                        &s->rng)) != 0 ||
        /* Two subqueries, because SQLite answers a lone min() or max()
         * from the index but scans for both in one query. */
        (rc = sq_prepare(h,
                         "SELECT (SELECT min(position) FROM records WHERE journal = ?1), "
                         "(SELECT max(position) FROM records WHERE journal = ?1)",
                         &s->bnd)) != 0 ||
        (rc = sq_prepare(h, "BEGIN IMMEDIATE", &s->wbegin)) != 0 || (rc = sq_prepare(h, "BEGIN", &s->rbegin)) != 0 ||
        (rc = sq_prepare(h, "COMMIT", &s->commit)) != 0 || (rc = sq_prepare(h, "ROLLBACK", &s->rollback)) != 0)
        return rc;
    return sq_bounds(h, &begin, &h->end);
}

static void sq_journal_close(struct bjournal *h)
{
    struct sq_journal *s = h->priv;
    if (!s)
        return;
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->get);
    sqlite3_finalize(s->rng);
    sqlite3_finalize(s->bnd);
    sqlite3_finalize(s->wbegin);
    sqlite3_finalize(s->rbegin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->rollback);
    sqlite3_close(s->db);
    free(s);
}

/* One record: an autocommit INSERT; several: one explicit transaction. The
 * primary key refuses a position taken, as the library's check does. */
static int sq_append(struct bjournal *h, const journal_record *recs, size_t n)
{
    struct sq_journal *s = sj_of(h);
    int rc = 0;
    journal_pos begin;

    if (n > 1 && (rc = sq_step_done(s->db, s->wbegin)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_bind_int64(s->ins, 1, (sqlite3_int64)h->id);
        sqlite3_bind_int64(s->ins, 2, (sqlite3_int64)(h->end + i));
        if (recs[i].len)
            sqlite3_bind_blob64(s->ins, 3, recs[i].data, recs[i].len, SQLITE_STATIC);
        else
            sqlite3_bind_zeroblob(s->ins, 3, 0);
        rc = sqlite3_step(s->ins);
        sqlite3_reset(s->ins);
        if (rc == SQLITE_DONE)
            rc = 0;
        else if ((rc & 0xff) == SQLITE_CONSTRAINT)
            rc = JOURNAL_ECONFLICT;
        else
            rc = sq_fail(s->db, "INSERT", rc);
    }
    if (n > 1)
        sq_step_done(s->db, rc == 0 ? s->commit : s->rollback);
    if (rc == JOURNAL_ECONFLICT) {
        if (sq_bounds(h, &begin, &h->end) != 0)
            rc = BENCH_FAIL;
    } else if (rc == 0) {
        h->end += n;
    }
    return rc;
}

/* Steps the get statement to the record at pos; the blob lives until the
 * statement is reset. */
static int sq_lookup(struct bjournal *h, journal_pos pos)
{
    struct sq_journal *s = sj_of(h);
    int rc;
    sqlite3_bind_int64(s->get, 1, (sqlite3_int64)h->id);
    sqlite3_bind_int64(s->get, 2, (sqlite3_int64)pos);
    rc = sqlite3_step(s->get);
    if (rc == SQLITE_ROW)
        return 0;
    return rc == SQLITE_DONE ? fail("sqlite: no record at %" PRIu64, pos) : sq_fail(s->db, "SELECT", rc);
}

static int sq_get(struct bjournal *h, journal_pos pos, void **rec, size_t *len)
{
    struct sq_journal *s = sj_of(h);
    int rc = sq_lookup(h, pos);
    if (rc == 0) {
        const void *p = sqlite3_column_blob(s->get, 0);
        int n = sqlite3_column_bytes(s->get, 0);
        *rec = malloc(n ? (size_t)n : 1);
        if (*rec) {
            memcpy(*rec, p, (size_t)n);
            *len = (size_t)n;
        } else {
            rc = fail("out of memory");
        }
    }
    sqlite3_reset(s->get);
    return rc;
}

static int sq_snap_begin(struct bjournal *h)
{
    return sq_step_done(sj_of(h)->db, sj_of(h)->rbegin);
}

/* The blob lives until the statement is reset: here, at the next get or at
 * the end of the snapshot. */
static int sq_snap_get(struct bjournal *h, journal_pos pos, const void **rec, size_t *len)
{
    struct sq_journal *s = sj_of(h);
    int rc;
    sqlite3_reset(s->get);
    if ((rc = sq_lookup(h, pos)) != 0)
        return rc;
    *rec = sqlite3_column_blob(s->get, 0);
    *len = (size_t)sqlite3_column_bytes(s->get, 0);
    return 0;
}

static int sq_snap_end(struct bjournal *h)
{
    sqlite3_reset(sj_of(h)->get);
    return sq_step_done(sj_of(h)->db, sj_of(h)->commit);
}

/* In a snapshot, the same query in its read transaction. */
static int sq_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    struct sq_journal *s = sj_of(h);
    int rc;
    sqlite3_bind_int64(s->rng, 1, (sqlite3_int64)h->id);
    sqlite3_bind_int64(s->rng, 2, (sqlite3_int64)from);
    while ((rc = sqlite3_step(s->rng)) == SQLITE_ROW)
        acc_rec(a, (journal_pos)sqlite3_column_int64(s->rng, 0), sqlite3_column_blob(s->rng, 1),
                (size_t)sqlite3_column_bytes(s->rng, 1));
    sqlite3_reset(s->rng);
    return rc == SQLITE_DONE ? 0 : sq_fail(s->db, "SELECT range", rc);
}

static int sq_bounds(struct bjournal *h, journal_pos *begin, journal_pos *end)
{
    struct sq_journal *s = sj_of(h);
    int rc;
    sqlite3_bind_int64(s->bnd, 1, (sqlite3_int64)h->id);
    rc = sqlite3_step(s->bnd);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(s->bnd, 0) == SQLITE_NULL) {
            *begin = *end = 0;
        } else {
            *begin = (journal_pos)sqlite3_column_int64(s->bnd, 0);
            *end = (journal_pos)sqlite3_column_int64(s->bnd, 1) + 1;
        }
        rc = 0;
    } else {
        rc = sq_fail(s->db, "SELECT bounds", rc);
    }
    sqlite3_reset(s->bnd);
    return rc;
}

/* Having no catalog, each empty journal holds one record, the least that
 * makes it exist; all in one transaction. */
static int sq_create_others(struct bstore *st, uint64_t n, const struct bench *b)
{
    struct bjournal h;
    int rc;

    if ((rc = b_journal_open(&h, st, "o", 1)) == 0 && (rc = sq_step_done(sj_of(&h)->db, sj_of(&h)->wbegin)) == 0) {
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            h.id = i + 1;
            h.end = 0;
            rc = sq_append(&h, b->batch, 1);
        }
        if (sq_step_done(sj_of(&h)->db, rc == 0 ? sj_of(&h)->commit : sj_of(&h)->rollback) != 0)
            rc = BENCH_FAIL;
    }
    b_journal_close(&h);
    return rc;
}

const struct bench_impl bench_sqlite = {
    .store_open = sq_store_open,
    .store_close = sq_store_close,
    .journal_open = sq_journal_open,
    .journal_close = sq_journal_close,
    .append = sq_append,
    .get = sq_get,
    .snap_begin = sq_snap_begin,
    .snap_get = sq_snap_get,
    .snap_end = sq_snap_end,
    .range = sq_range,
    .snap_range = sq_range,
    .bounds = sq_bounds,
    .create_others = sq_create_others,
};
