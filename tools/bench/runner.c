/*
 * journal-bench.c - measure libjournal against the floor it is built on
 * (raw LMDB) and the alternative a user would pick (SQLite); given a
 * PostgreSQL server, also its PostgreSQL backend against hand-written SQL.
 *
 * Every scenario does the same work three (or five) ways:
 *   journal  this library, through the public API only;
 *   lmdb     raw LMDB doing the least equivalent work, in the library's own
 *            on-disk layout (a store it writes opens as a journal store), so
 *            that journal/lmdb is the library's overhead;
 *   sqlite   SQLite in WAL mode, one WITHOUT ROWID table keyed by (journal,
 *            position), prepared statements;
 *   pg       this library on a postgresql:// store (--pg-url), one schema
 *            per store;
 *   pgraw    the least equivalent SQL through libpq, in the library's own
 *            tables: prepared statements, binary parameters, one statement
 *            per operation, so that pg/pgraw is the backend's overhead.
 * Rounds alternate the implementations, rotating which one goes first, so
 * that drift of the machine (other load, the page cache, the clock) falls
 * on all alike; the table gives the median of the rounds.
 *
 * Each measurement runs in a child process of its own: the parent never
 * opens a store (handles do not survive fork()), each round starts from the
 * state on disk, and wait4() gives the child's peak resident memory. See
 * journal-bench.1 for the user's view.
 */
#define _GNU_SOURCE /* asprintf(), wait4() */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "../lib/pq_load.h" /* libpq, loaded at run time like the library does */

#define PROG "journal-bench"

/* Returned inside the program for a failure whose message is in err_msg. */
#define BENCH_FAIL (-1)

/* The raw floor maps this much up front, so it never pays for growing the
 * map: the least work, which the library's growth is measured against. */
#define RAW_MAP_SIZE (64ull << 30)

/* Records per transaction when a store is filled before a measurement. */
#define FILL_BATCH 1000

/* Empty journals created per transaction by the raw floor's setup. */
#define RAW_CREATE_BATCH 10000

#define MAX_LIST 8

/* The most threads or reader processes of one row. */
#define MAX_THREADS 512

enum impl { IMPL_JOURNAL, IMPL_LMDB, IMPL_SQLITE, IMPL_PG, IMPL_PGRAW, NIMPL };

static const char *const impl_names[NIMPL] = {"journal", "lmdb", "sqlite", "pg", "pgraw"};

/* The implementations that run by default, and the two that need a server. */
#define IMPL_DEFAULT (1u << IMPL_JOURNAL | 1u << IMPL_LMDB | 1u << IMPL_SQLITE)
#define IMPL_PGS (1u << IMPL_PG | 1u << IMPL_PGRAW)

/* Scale rows with journals larger than this skip pg and pgraw: filling a
 * million records through a server would take much of a run's time. */
#define PG_SCALE_MAX 100000

/* Type OIDs of the hand-written SQL's parameters (pg_type.h is a server
 * header). */
#define OID_INT8 20
#define OID_BYTEA 17
#define OID_BYTEA_ARRAY 1001

/* How durable a write is, in each implementation's own terms. */
enum dur {
    DUR_SYNC,   /* on disk when the call returns: default, 0, synchronous=FULL */
    DUR_NOSYNC, /* JOURNAL_NOSYNC, MDB_NOSYNC, synchronous=NORMAL */
    DUR_NONE,   /* reads and setup: the least syncing each one offers */
};

enum kind {
    K_APPEND,    /* one record per call */
    K_BATCH,     /* param records per call */
    K_GET,       /* copying get at random positions */
    K_SNAPGET,   /* zero-copy get at random positions, one snapshot */
    K_RANGE,     /* param passes over the whole journal */
    K_SNAPRANGE, /* param passes over the whole journal, one snapshot */
    K_BOUNDS,    /* bounds of the journal */
    K_THREADS,   /* param threads appending durably at once */
    K_READERS,   /* param processes doing copying gets at once */
};

/* What a store holds before the rounds: `others` empty journals, then
 * `journals` journals named j0, j1, ... of `records` records each, written
 * FILL_BATCH records per transaction, or one (`single`). */
struct spec {
    uint64_t others;
    unsigned journals;
    uint64_t records;
    int single;
};

/* One line of the table. */
struct row {
    char name[40];
    char key[40]; /* the store it runs on: rows with the same key share it */
    const char *unit;
    enum kind kind;
    enum dur dur;
    int shared; /* K_THREADS: all threads append to j0, with retry */
    int fresh;  /* reads measured in the process that wrote the store, never reopened */
    uint64_t param;
    uint64_t ops; /* counted operations per round */
    struct spec spec;
    /* results, per implementation and round */
    double *rate[NIMPL];   /* ops/s */
    long rss_kib[NIMPL];   /* the highest peak of the rounds */
    uint64_t least[NIMPL]; /* the fewest operations a round did (--time) */
    unsigned skip;         /* bit im: implementation im does not run this row */
    int done;
};

struct bench {
    unsigned rounds;
    size_t size;
    uint64_t appends, batches, batch_size, reads, records, passes, journals, seed;
    int64_t max_ns; /* a measurement stops after this long; 0: never */
    unsigned threads[MAX_LIST], nthreads;
    unsigned procs[MAX_LIST], nprocs;
    uint64_t scale[MAX_LIST];
    unsigned nscale;
    unsigned impl_mask;
    unsigned groups; /* bit n: scenario n */
    int quick, keep;
    int cpu_clock; /* rows of one thread count the process's CPU time */
    const char *dir, *csv, *plot;
    const char *pg_url; /* the server of pg and pgraw, as given */
    long pid;           /* names this run's schemas: bench_<pid>_<n> */
    char pg_version[64];

    char root[PATH_MAX - 128]; /* the directory of this run's stores */
    FILE *csv_file;
    struct row *rows;
    size_t nrows;
    unsigned char *rec; /* the record every write writes */
    journal_record *batch;
    long base_rss_kib;
    double load[2]; /* the 1-minute load average at the start and at the end */
};

/* What a child reports through its pipe. */
struct outcome {
    int ok;
    uint64_t ops;
    int64_t t0, t1; /* CLOCK_MONOTONIC, comparable between processes */
    char err[256];
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static volatile sig_atomic_t stop_signal;
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;
static char err_msg[256];
/* Where measured loops leave a value, so the compiler keeps the reads. */
static volatile uint64_t sink;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

/* Keeps the first failure of the process (threads may fail together). */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&err_mu);
    if (!err_msg[0]) {
        va_start(ap, fmt);
        vsnprintf(err_msg, sizeof err_msg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&err_mu);
    return BENCH_FAIL;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of the process, user and system: unlike the wall clock, it
 * hardly moves with other load on the machine, but leaves out waits for
 * the disk. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rnd_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* When a measurement that started at t0 stops early; 0: it does not. */
static int64_t deadline(const struct bench *b, int64_t t0)
{
    return b->max_ns ? t0 + b->max_ns : 0;
}

/* Every implementation reads the same positions in a round; rounds differ. */
static uint64_t round_seed(const struct bench *b, unsigned round)
{
    uint64_t s = (b->seed + round + 1) * 0x9E3779B97F4A7C15ULL;
    return s ? s : 1;
}

static void be64_put(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static uint64_t be64_get(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* "1e5" for powers of ten from 1000 on, else the number. */
static void fmt_count(char *buf, size_t n, uint64_t v)
{
    unsigned e = 0;
    uint64_t x = v;
    while (x >= 10 && x % 10 == 0) {
        x /= 10;
        e++;
    }
    if (x == 1 && e >= 3)
        snprintf(buf, n, "1e%u", e);
    else
        snprintf(buf, n, "%" PRIu64, v);
}

/* ------------------------------------------------------------------------ */
/* The three implementations behind one interface                           */

struct bstore {
    enum impl impl;
    enum dur dur;
    char path[PATH_MAX];
    journal_store *js;
    MDB_env *env;
    MDB_dbi meta, catalog, records;
    char conninfo[PATH_MAX]; /* pgraw: the URL without journal_schema */
    char qschema[80];        /* pgraw: the schema, double-quoted */
};

/* One journal as one thread uses it. */
struct bjournal {
    struct bstore *st;
    char name[32];
    size_t namelen;
    uint64_t id;
    journal_pos end; /* where the next append goes */
    journal *j;
    journal_snapshot *snap;
    MDB_txn *rtxn;     /* reset between reads, renewed by each */
    unsigned put_flag; /* MDB_APPEND when this journal's records sort last in the store */
    sqlite3 *db;
    sqlite3_stmt *ins, *get, *rng, *bnd, *wbegin, *rbegin, *commit, *rollback;
    PGconn *pg;        /* pgraw: one connection per thread, as the pool gives */
    PGresult *snapres; /* pgraw: the last snapshot get, kept until the next */
};

struct acc {
    uint64_t n, sum;
};

/* Touches each record's first byte, as a consumer would. */
static int acc_rec(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct acc *a = arg;
    (void)pos;
    a->n++;
    a->sum += len + (len ? *(const unsigned char *)rec : 0);
    return 0;
}

/* A failed call of the library; on a PostgreSQL store (pg) with the
 * server's or libpq's message, s NULL meaning journal_store_open(). */
static int lib_fail(const journal_store *s, const char *what, int rc)
{
    const char *msg = journal_store_errmsg(s);
    return fail("journal: %s: %s%s%s", what, journal_strerror(rc), *msg ? ": " : "", msg);
}

static int mdb_fail(const char *what, int rc)
{
    return fail("lmdb: %s: %s", what, mdb_strerror(rc));
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

/* The raw floor creates the store as the library would (see the on-disk
 * layout): three named databases, the format version and the next id. */
static int raw_store_open(struct bstore *st)
{
    unsigned flags = MDB_NOTLS;
    unsigned char ver[4] = {0, 0, 0, JOURNAL_FORMAT_VERSION}, id[8];
    MDB_txn *txn = NULL;
    MDB_val k = {6, "format"}, v;
    int rc;

    if (st->dur != DUR_SYNC)
        flags |= MDB_NOSYNC;
    if ((rc = mdb_env_create(&st->env)) != 0) {
        st->env = NULL;
        return mdb_fail("mdb_env_create", rc);
    }
    if ((rc = mdb_env_set_maxdbs(st->env, 3)) != 0 || (rc = mdb_env_set_mapsize(st->env, RAW_MAP_SIZE)) != 0 ||
        (rc = mdb_env_open(st->env, st->path, flags, 0644)) != 0) {
        rc = mdb_fail(st->path, rc);
        goto out;
    }
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0) {
        rc = mdb_fail("mdb_txn_begin", rc);
        goto out;
    }
    if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &st->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "catalog", MDB_CREATE, &st->catalog)) != 0 ||
        (rc = mdb_dbi_open(txn, "records", MDB_CREATE, &st->records)) != 0) {
        rc = mdb_fail("mdb_dbi_open", rc);
        goto out_abort;
    }
    rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_val vv = {sizeof ver, ver}, ik = {7, "next_id"}, iv = {sizeof id, id};
        be64_put(id, 1);
        if ((rc = mdb_put(txn, st->meta, &k, &vv, 0)) != 0 || (rc = mdb_put(txn, st->meta, &ik, &iv, 0)) != 0) {
            rc = mdb_fail("mdb_put meta", rc);
            goto out_abort;
        }
    } else if (rc != 0) {
        rc = mdb_fail("mdb_get format", rc);
        goto out_abort;
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        rc = mdb_fail("mdb_txn_commit", rc);
    goto out;
out_abort:
    mdb_txn_abort(txn);
out:
    return rc;
}

static int sq_store_open(struct bstore *st)
{
    char file[PATH_MAX + 16];
    sqlite3 *db = NULL;
    int rc;

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

/* PostgreSQL by hand: the statements the library runs (lib/pg.c), less
 * what only the library needs (notifying waiters of journal_wait(), the
 * bounds on every row of a range). %1$s is the quoted schema. Parameters
 * and results travel in binary: int8 as 8 big-endian bytes. */
enum pr_stmt { PR_APPEND1, PR_APPENDN, PR_GET, PR_RANGE, PR_BOUNDS, PR_FIND, PR_CREATE, PR_COUNT };

static const struct {
    const char *sql;
    int nparams;
    Oid types[4];
} pr_stmts[PR_COUNT] = {
    /* The end is checked and the records inserted in one statement: the
     * update matches only at the expected end, the insert depends on it. */
    [PR_APPEND1] = {"WITH u AS (UPDATE %1$s.journals SET end_pos = end_pos + 1 WHERE id = $1 AND end_pos = $2 "
                    "RETURNING id) INSERT INTO %1$s.records (journal, pos, data) SELECT id, $2, $3 FROM u",
                    3,
                    {OID_INT8, OID_INT8, OID_BYTEA}},
    [PR_APPENDN] = {"WITH u AS (UPDATE %1$s.journals SET end_pos = end_pos + $3 WHERE id = $1 AND end_pos = $2 "
                    "RETURNING id) INSERT INTO %1$s.records (journal, pos, data) SELECT u.id, $2 + t.o - 1, t.d "
                    "FROM u, unnest($4::bytea[]) WITH ORDINALITY AS t(d, o)",
                    4,
                    {OID_INT8, OID_INT8, OID_INT8, OID_BYTEA_ARRAY}},
    [PR_GET] = {"SELECT data FROM %1$s.records WHERE journal = $1 AND pos = $2", 2, {OID_INT8, OID_INT8}},
    [PR_RANGE] = {"SELECT pos, data FROM %1$s.records WHERE journal = $1 AND pos >= $2 ORDER BY pos",
                  2,
                  {OID_INT8, OID_INT8}},
    [PR_BOUNDS] = {"SELECT begin_pos, end_pos FROM %1$s.journals WHERE id = $1", 1, {OID_INT8}},
    [PR_FIND] = {"SELECT id, end_pos FROM %1$s.journals WHERE name = $1", 1, {OID_BYTEA}},
    [PR_CREATE] = {"INSERT INTO %1$s.journals (name) VALUES ($1) RETURNING id, end_pos", 1, {OID_BYTEA}},
};

/* The library's tables (see POSTGRESQL in journal.h), so that a store the
 * floor writes opens as a journal store. */
static const char pr_ddl[] =
    "BEGIN; SELECT pg_advisory_xact_lock(hashtext('journal-bench:%2$s')); "
    "CREATE SCHEMA IF NOT EXISTS %1$s; "
    "CREATE TABLE IF NOT EXISTS %1$s.meta (key text PRIMARY KEY, value text NOT NULL); "
    "CREATE TABLE IF NOT EXISTS %1$s.journals (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
    "name bytea NOT NULL UNIQUE, begin_pos bigint NOT NULL DEFAULT 0, end_pos bigint NOT NULL DEFAULT 0, "
    "waiters integer NOT NULL DEFAULT 0, CHECK (0 <= begin_pos AND begin_pos <= end_pos)); "
    "CREATE TABLE IF NOT EXISTS %1$s.records (journal bigint NOT NULL, pos bigint NOT NULL, "
    "data bytea NOT NULL, PRIMARY KEY (journal, pos)); "
    "INSERT INTO %1$s.meta VALUES ('format', '%3$d') ON CONFLICT DO NOTHING; COMMIT";

/* Notices (what DROP ... CASCADE dropped, IF NOT EXISTS skipping) are
 * not the user's business; errors come with the results. */
static void pq_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* libpq's version as "MAJOR.MINOR", or "not found". */
static const char *pq_version(char *buf, size_t size)
{
    if (journal__pq_load(NULL) != 0)
        return "not found";
    snprintf(buf, size, "%d.%d", PQlibVersion() / 10000, PQlibVersion() % 100);
    return buf;
}

/* A connection with notices off, or NULL after the failure is recorded. */
static PGconn *pq_connect(const char *who, const char *conninfo)
{
    const char *why;
    PGconn *pg;
    if (journal__pq_load(&why) != 0) {
        fail("%s: %s", who, why);
        return NULL;
    }
    pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(pg);
        fail("%s: cannot connect: %.*s", who, (int)strcspn(msg, "\n"), msg);
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, pq_quiet, NULL);
    return pg;
}

/* A libpq message without its final newline. */
static int pq_fail(const char *who, const char *what, const char *msg)
{
    int n = msg ? (int)strcspn(msg, "\n") : 0;
    return fail("%s: %s: %.*s", who, what, n, msg ? msg : "");
}

/* Checks a result of the floor; clears it unless it is good and wanted. */
static int pr_check(PGconn *pg, PGresult *r, ExecStatusType want, const char *what, PGresult **out)
{
    if (r && PQresultStatus(r) == want) {
        if (out)
            *out = r;
        else
            PQclear(r);
        return 0;
    }
    pq_fail("pgraw", what, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    PQclear(r);
    return BENCH_FAIL;
}

static void pr_put64(char *p, uint64_t v)
{
    be64_put((unsigned char *)p, v);
}

static uint64_t pr_get64(const PGresult *r, int row, int col)
{
    return be64_get((const unsigned char *)PQgetvalue(r, row, col));
}

/* Runs prepared statement k with binary parameters and results. */
static int pr_run(struct bjournal *h, enum pr_stmt k, const char *const *vals, const int *lens, ExecStatusType want,
                  PGresult **out)
{
    static const int fmts[4] = {1, 1, 1, 1};
    char name[8];
    snprintf(name, sizeof name, "b%d", (int)k);
    return pr_check(h->pg, PQexecPrepared(h->pg, name, pr_stmts[k].nparams, vals, lens, fmts, 1), want, name, out);
}

/* The store's URL ends with journal_schema=NAME (see store_path()): the
 * floor connects with the rest and writes in schema NAME itself. */
static int pr_store_open(struct bstore *st)
{
    char *p = strstr(st->path, "journal_schema="), sql[sizeof pr_ddl + 8 * sizeof st->qschema];
    const char *schema;
    PGconn *pg;
    PGresult *r;
    int rc;

    if (!p || p == st->path)
        return fail("pgraw: %s: no journal_schema", st->path);
    schema = p + 15;
    snprintf(st->conninfo, sizeof st->conninfo, "%.*s", (int)(p - 1 - st->path), st->path);
    snprintf(st->qschema, sizeof st->qschema, "\"%s\"", schema);
    if (!(pg = pq_connect("pgraw", st->conninfo)))
        return BENCH_FAIL;
    /* The tables are made once, by the setup; the rounds only look. */
    snprintf(sql, sizeof sql, "SELECT to_regclass('%s.meta') IS NULL", st->qschema);
    rc = pr_check(pg, PQexec(pg, sql), PGRES_TUPLES_OK, "to_regclass", &r);
    if (rc == 0) {
        int missing = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        snprintf(sql, sizeof sql, pr_ddl, st->qschema, schema, JOURNAL_FORMAT_VERSION);
        if (missing)
            rc = pr_check(pg, PQexec(pg, sql), PGRES_COMMAND_OK, "creating the tables", NULL);
    }
    PQfinish(pg);
    return rc;
}

/* Each thread's own connection, its statements prepared, the journal found
 * or created. */
static int pr_jopen(struct bjournal *h)
{
    struct bstore *st = h->st;
    const char *vals[1] = {h->name};
    int lens[1] = {(int)h->namelen};
    PGresult *r = NULL;
    int rc;

    if (!(h->pg = pq_connect("pgraw", st->conninfo)))
        return BENCH_FAIL;
    if (st->dur != DUR_SYNC &&
        (rc = pr_check(h->pg, PQexec(h->pg, "SET synchronous_commit = off"), PGRES_COMMAND_OK, "SET", NULL)) != 0)
        return rc;
    for (int k = 0; k < PR_COUNT; k++) {
        char name[8], sql[512];
        snprintf(name, sizeof name, "b%d", k);
        snprintf(sql, sizeof sql, pr_stmts[k].sql, st->qschema);
        rc = pr_check(h->pg, PQprepare(h->pg, name, sql, pr_stmts[k].nparams, pr_stmts[k].types), PGRES_COMMAND_OK,
                      "PREPARE", NULL);
        if (rc != 0)
            return rc;
    }
    if ((rc = pr_run(h, PR_FIND, vals, lens, PGRES_TUPLES_OK, &r)) != 0)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        if ((rc = pr_run(h, PR_CREATE, vals, lens, PGRES_TUPLES_OK, &r)) != 0)
            return rc;
    }
    h->id = pr_get64(r, 0, 0);
    h->end = pr_get64(r, 0, 1);
    PQclear(r);
    return 0;
}

/* PostgreSQL's binary array of bytea: a header, then each element as a
 * 4-byte length and its bytes. */
static char *pr_pack(const journal_record *recs, size_t n, int *outlen)
{
    size_t total = 20 + 4 * n;
    unsigned char *buf, *p;
    for (size_t i = 0; i < n; i++)
        total += recs[i].len;
    if (total > INT_MAX || !(buf = malloc(total)))
        return NULL;
    p = buf;
    for (uint32_t i = 0; i < 5; i++) {
        static const uint32_t hdr[3] = {1, 0, OID_BYTEA};
        uint32_t v = i < 3 ? hdr[i] : i == 3 ? (uint32_t)n : 1;
        for (int k = 3; k >= 0; k--)
            *p++ = (unsigned char)(v >> (8 * k));
    }
    for (size_t i = 0; i < n; i++) {
        for (int k = 3; k >= 0; k--)
            *p++ = (unsigned char)(recs[i].len >> (8 * k));
        if (recs[i].len)
            memcpy(p, recs[i].data, recs[i].len);
        p += recs[i].len;
    }
    *outlen = (int)total;
    return (char *)buf;
}

static int pr_bounds(struct bjournal *h, journal_pos *begin, journal_pos *end)
{
    char idb[8];
    const char *vals[1] = {idb};
    int lens[1] = {8}, rc;
    PGresult *r;

    pr_put64(idb, h->id);
    if ((rc = pr_run(h, PR_BOUNDS, vals, lens, PGRES_TUPLES_OK, &r)) != 0)
        return rc;
    if (PQntuples(r) == 1) {
        *begin = pr_get64(r, 0, 0);
        *end = pr_get64(r, 0, 1);
    } else {
        rc = fail("pgraw: journal %" PRIu64 " has no catalog row", h->id);
    }
    PQclear(r);
    return rc;
}

/* One statement, one record or a whole batch, as the library does it. The
 * number of rows inserted says whether the end was still h->end. */
static int pr_append(struct bjournal *h, const journal_record *recs, size_t n)
{
    char idb[8], endb[8], nb[8], *packed = NULL;
    const char *vals[4] = {idb, endb};
    int lens[4] = {8, 8}, rc;
    journal_pos begin;
    PGresult *r;

    pr_put64(idb, h->id);
    pr_put64(endb, h->end);
    if (n == 1) {
        vals[2] = recs[0].len ? recs[0].data : "";
        lens[2] = (int)recs[0].len;
    } else {
        pr_put64(nb, n);
        vals[2] = nb;
        lens[2] = 8;
        if (!(packed = pr_pack(recs, n, &lens[3])))
            return fail("pgraw: out of memory packing %zu records", n);
        vals[3] = packed;
    }
    rc = pr_run(h, n == 1 ? PR_APPEND1 : PR_APPENDN, vals, lens, PGRES_COMMAND_OK, &r);
    free(packed);
    if (rc != 0)
        return rc;
    if (strtoull(PQcmdTuples(r), NULL, 10) == n) {
        h->end += n;
    } else {
        rc = JOURNAL_ECONFLICT;
        if (pr_bounds(h, &begin, &h->end) != 0)
            rc = BENCH_FAIL;
    }
    PQclear(r);
    return rc;
}

static int pr_get(struct bjournal *h, journal_pos pos, PGresult **out)
{
    char idb[8], posb[8];
    const char *vals[2] = {idb, posb};
    int lens[2] = {8, 8}, rc;

    pr_put64(idb, h->id);
    pr_put64(posb, pos);
    if ((rc = pr_run(h, PR_GET, vals, lens, PGRES_TUPLES_OK, out)) != 0)
        return rc;
    if (PQntuples(*out) != 1) {
        PQclear(*out);
        *out = NULL;
        return fail("pgraw: no record at %" PRIu64, pos);
    }
    return 0;
}

/* One select over the journal, streamed row by row as the library's range
 * is, so that memory stays bounded however long the journal. */
static int pr_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    static const int fmts[2] = {1, 1};
    char idb[8], fromb[8], name[8];
    const char *vals[2] = {idb, fromb};
    int lens[2] = {8, 8}, rc = 0;
    PGresult *r;

    pr_put64(idb, h->id);
    pr_put64(fromb, from);
    snprintf(name, sizeof name, "b%d", (int)PR_RANGE);
    if (!PQsendQueryPrepared(h->pg, name, 2, vals, lens, fmts, 1) || !PQsetSingleRowMode(h->pg))
        return pq_fail("pgraw", "range", PQerrorMessage(h->pg));
    while ((r = PQgetResult(h->pg)) != NULL) {
        if (PQresultStatus(r) == PGRES_SINGLE_TUPLE)
            acc_rec(a, pr_get64(r, 0, 0), PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1));
        else if (PQresultStatus(r) != PGRES_TUPLES_OK && rc == 0)
            rc = pq_fail("pgraw", "range", PQresultErrorMessage(r));
        PQclear(r);
    }
    return rc;
}

/* Opens the store of one implementation at path. On failure the store must
 * still be closed with b_store_close(). */
static int b_store_open(struct bstore *st, enum impl impl, const char *path, enum dur dur)
{
    journal_options o = {0};
    int rc = 0;

    memset(st, 0, sizeof *st);
    st->impl = impl;
    st->dur = dur;
    snprintf(st->path, sizeof st->path, "%s", path);
    if ((impl == IMPL_LMDB || impl == IMPL_SQLITE) && mkdir(path, 0755) != 0 && errno != EEXIST)
        return fail("mkdir %s: %s", path, strerror(errno));
    switch (impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        o.flags = dur == DUR_SYNC ? 0 : JOURNAL_NOSYNC;
        rc = journal_store_open(path, &o, &st->js);
        if (rc != 0)
            rc = lib_fail(NULL, path, rc);
        break;
    case IMPL_LMDB:
        rc = raw_store_open(st);
        break;
    case IMPL_PGRAW:
        rc = pr_store_open(st);
        break;
    default:
        rc = sq_store_open(st);
        break;
    }
    return rc;
}

static int b_store_close(struct bstore *st)
{
    int rc = 0;
    if (st->js && (rc = journal_store_close(st->js)) != 0)
        rc = fail("journal: journal_store_close: %s", journal_strerror(rc));
    if (st->env)
        mdb_env_close(st->env);
    st->js = NULL;
    st->env = NULL;
    return rc;
}

/* The raw floor's journal_open(): find the catalog entry by name or create
 * it with the next id, in one write transaction. */
static int raw_jopen(struct bjournal *h)
{
    struct bstore *st = h->st;
    MDB_txn *txn = NULL;
    MDB_val k = {h->namelen, h->name}, v, ik = {7, "next_id"}, iv;
    unsigned char ent[24], idb[8];
    uint64_t next;
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return mdb_fail("mdb_txn_begin", rc);
    if ((rc = mdb_get(txn, st->meta, &ik, &iv)) != 0 || iv.mv_size != 8) {
        rc = rc ? mdb_fail("mdb_get next_id", rc) : fail("lmdb: next_id is not 8 bytes");
        goto out_abort;
    }
    next = be64_get(iv.mv_data);
    rc = mdb_get(txn, st->catalog, &k, &v);
    if (rc == MDB_NOTFOUND) {
        h->id = next++;
        h->end = 0;
        be64_put(ent, h->id);
        be64_put(ent + 8, 0);
        be64_put(ent + 16, 0);
        be64_put(idb, next);
        v.mv_size = sizeof ent;
        v.mv_data = ent;
        iv.mv_size = sizeof idb;
        iv.mv_data = idb;
        if ((rc = mdb_put(txn, st->catalog, &k, &v, MDB_NOOVERWRITE)) != 0 ||
            (rc = mdb_put(txn, st->meta, &ik, &iv, 0)) != 0) {
            rc = mdb_fail("mdb_put catalog", rc);
            goto out_abort;
        }
    } else if (rc != 0 || v.mv_size != 24) {
        rc = rc ? mdb_fail("mdb_get catalog", rc) : fail("lmdb: catalog entry is not 24 bytes");
        goto out_abort;
    } else {
        h->id = be64_get(v.mv_data);
        h->end = be64_get((unsigned char *)v.mv_data + 16);
    }
    h->put_flag = h->id == next - 1 ? MDB_APPEND : MDB_NOOVERWRITE;
    if ((rc = mdb_txn_commit(txn)) != 0)
        return mdb_fail("mdb_txn_commit", rc);
    if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &h->rtxn)) != 0) {
        h->rtxn = NULL;
        return mdb_fail("mdb_txn_begin read", rc);
    }
    mdb_txn_reset(h->rtxn);
    return 0;
out_abort:
    mdb_txn_abort(txn);
    return rc;
}

static int sq_prepare(struct bjournal *h, const char *sql, sqlite3_stmt **stmt)
{
    int rc = sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, NULL);
    return rc == SQLITE_OK ? 0 : sq_fail(h->db, sql, rc);
}

static int b_bounds(struct bjournal *h, journal_pos *begin, journal_pos *end);

static int sq_jopen(struct bjournal *h)
{
    static const char *const sync_pragma[] = {"PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL",
                                              "PRAGMA synchronous=OFF"};
    char file[PATH_MAX + 16];
    journal_pos begin;
    int rc;

    sq_file(h->st, file, sizeof file);
    /* One connection per thread, as SQLite wants; it needs no mutex then. */
    rc = sqlite3_open_v2(file, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(h->db, file, rc);
    sqlite3_busy_timeout(h->db, 60000);
    if ((rc = sq_exec(h->db, sync_pragma[h->st->dur])) != 0 ||
        (rc = sq_prepare(h, "INSERT INTO records(journal, position, data) VALUES(?1, ?2, ?3)", &h->ins)) != 0 ||
        (rc = sq_prepare(h, "SELECT data FROM records WHERE journal = ?1 AND position = ?2", &h->get)) != 0 ||
        (rc =
             sq_prepare(h, "SELECT position, data FROM records WHERE journal = ?1 AND position >= ?2 ORDER BY position",
                        &h->rng)) != 0 ||
        /* Two subqueries, because SQLite answers a lone min() or max()
         * from the index but scans for both in one query. */
        (rc = sq_prepare(h,
                         "SELECT (SELECT min(position) FROM records WHERE journal = ?1), "
                         "(SELECT max(position) FROM records WHERE journal = ?1)",
                         &h->bnd)) != 0 ||
        (rc = sq_prepare(h, "BEGIN IMMEDIATE", &h->wbegin)) != 0 || (rc = sq_prepare(h, "BEGIN", &h->rbegin)) != 0 ||
        (rc = sq_prepare(h, "COMMIT", &h->commit)) != 0 || (rc = sq_prepare(h, "ROLLBACK", &h->rollback)) != 0)
        return rc;
    return b_bounds(h, &begin, &h->end);
}

/* Opens journal `name` of the store; `id` is the id it has or gets in the
 * store, which SQLite, having no catalog, uses directly. On failure the
 * handle must still be closed with b_journal_close(). */
static int b_journal_open(struct bjournal *h, struct bstore *st, const char *name, uint64_t id)
{
    int rc = 0;

    memset(h, 0, sizeof *h);
    h->st = st;
    snprintf(h->name, sizeof h->name, "%s", name);
    h->namelen = strlen(h->name);
    h->id = id;
    switch (st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        if ((rc = journal_open(st->js, name, &h->j)) != 0)
            return lib_fail(h->st->js, "journal_open", rc);
        if ((rc = journal_bounds(h->j, NULL, &h->end)) != 0)
            rc = lib_fail(h->st->js, "journal_bounds", rc);
        break;
    case IMPL_LMDB:
        rc = raw_jopen(h);
        break;
    case IMPL_PGRAW:
        rc = pr_jopen(h);
        break;
    default:
        rc = sq_jopen(h);
        break;
    }
    return rc;
}

static void b_journal_close(struct bjournal *h)
{
    journal_snapshot_end(h->snap);
    journal_close(h->j);
    if (h->rtxn)
        mdb_txn_abort(h->rtxn);
    sqlite3_finalize(h->ins);
    sqlite3_finalize(h->get);
    sqlite3_finalize(h->rng);
    sqlite3_finalize(h->bnd);
    sqlite3_finalize(h->wbegin);
    sqlite3_finalize(h->rbegin);
    sqlite3_finalize(h->commit);
    sqlite3_finalize(h->rollback);
    sqlite3_close(h->db);
    /* libpq is loaded only when pgraw runs (lib/pq_load.h). */
    if (h->pg) {
        PQclear(h->snapres);
        PQfinish(h->pg);
    }
    memset(h, 0, sizeof *h);
}

/* One write transaction as the library's append does it: read the catalog
 * entry, check the end, put the records, write the new end. */
static int raw_append(struct bjournal *h, const journal_record *recs, size_t n)
{
    struct bstore *st = h->st;
    MDB_txn *txn = NULL;
    MDB_val k = {h->namelen, h->name}, v, rk, rv;
    unsigned char ent[24], key[16];
    uint64_t end;
    int rc;

    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
        return mdb_fail("mdb_txn_begin", rc);
    if ((rc = mdb_get(txn, st->catalog, &k, &v)) != 0 || v.mv_size != sizeof ent) {
        rc = rc ? mdb_fail("mdb_get catalog", rc) : fail("lmdb: catalog entry is not 24 bytes");
        goto out_abort;
    }
    memcpy(ent, v.mv_data, sizeof ent);
    end = be64_get(ent + 16);
    if (end != h->end) {
        h->end = end;
        rc = JOURNAL_ECONFLICT;
        goto out_abort;
    }
    be64_put(key, h->id);
    rk.mv_size = sizeof key;
    rk.mv_data = key;
    for (size_t i = 0; i < n; i++) {
        be64_put(key + 8, end + i);
        rv.mv_size = recs[i].len;
        rv.mv_data = (void *)recs[i].data;
        if ((rc = mdb_put(txn, st->records, &rk, &rv, h->put_flag)) != 0) {
            rc = mdb_fail("mdb_put record", rc);
            goto out_abort;
        }
    }
    be64_put(ent + 16, end + n);
    v.mv_size = sizeof ent;
    v.mv_data = ent;
    if ((rc = mdb_put(txn, st->catalog, &k, &v, 0)) != 0) {
        rc = mdb_fail("mdb_put catalog", rc);
        goto out_abort;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return mdb_fail("mdb_txn_commit", rc);
    h->end = end + n;
    return 0;
out_abort:
    mdb_txn_abort(txn);
    return rc;
}

/* One record: an autocommit INSERT; several: one explicit transaction. The
 * primary key refuses a position taken, as the library's check does. */
static int sq_append(struct bjournal *h, const journal_record *recs, size_t n)
{
    int rc = 0;
    journal_pos begin;

    if (n > 1 && (rc = sq_step_done(h->db, h->wbegin)) != 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_bind_int64(h->ins, 1, (sqlite3_int64)h->id);
        sqlite3_bind_int64(h->ins, 2, (sqlite3_int64)(h->end + i));
        if (recs[i].len)
            sqlite3_bind_blob64(h->ins, 3, recs[i].data, recs[i].len, SQLITE_STATIC);
        else
            sqlite3_bind_zeroblob(h->ins, 3, 0);
        rc = sqlite3_step(h->ins);
        sqlite3_reset(h->ins);
        if (rc == SQLITE_DONE)
            rc = 0;
        else if ((rc & 0xff) == SQLITE_CONSTRAINT)
            rc = JOURNAL_ECONFLICT;
        else
            rc = sq_fail(h->db, "INSERT", rc);
    }
    if (n > 1)
        sq_step_done(h->db, rc == 0 ? h->commit : h->rollback);
    if (rc == JOURNAL_ECONFLICT) {
        if (b_bounds(h, &begin, &h->end) != 0)
            rc = BENCH_FAIL;
    } else if (rc == 0) {
        h->end += n;
    }
    return rc;
}

/* Appends n records at h->end in one transaction. 0, JOURNAL_ECONFLICT
 * (h->end is then the journal's end), or BENCH_FAIL. */
static int b_append(struct bjournal *h, const journal_record *recs, size_t n)
{
    int rc;
    journal_pos begin;

    switch (h->st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        rc = n == 1 ? journal_append(h->j, h->end, recs[0].data, recs[0].len)
                    : journal_append_batch(h->j, h->end, recs, n);
        if (rc == 0) {
            h->end += n;
        } else if (rc == JOURNAL_ECONFLICT) {
            int brc = journal_bounds(h->j, &begin, &h->end);
            if (brc != 0)
                rc = lib_fail(h->st->js, "journal_bounds", brc);
        } else {
            rc = lib_fail(h->st->js, n == 1 ? "journal_append" : "journal_append_batch", rc);
        }
        return rc;
    case IMPL_LMDB:
        return raw_append(h, recs, n);
    case IMPL_PGRAW:
        return pr_append(h, recs, n);
    default:
        return sq_append(h, recs, n);
    }
}

static int retry_at_end(void *arg, journal_pos end, const void **rec, size_t *len)
{
    (void)arg;
    (void)end;
    (void)rec;
    (void)len;
    return 0;
}

/* Appends one record at whatever the end is, retrying after conflicts. */
static int b_append_retry(struct bjournal *h, const journal_record *rec)
{
    journal_pos written;
    int rc;

    if (h->st->impl == IMPL_JOURNAL || h->st->impl == IMPL_PG) {
        rc = journal_append_retry(h->j, h->end, rec->data, rec->len, retry_at_end, NULL, &written);
        if (rc != 0)
            return lib_fail(h->st->js, "journal_append_retry", rc);
        h->end = written + 1;
        return 0;
    }
    while ((rc = b_append(h, rec, 1)) == JOURNAL_ECONFLICT)
        ;
    return rc;
}

/* A copy of the record at pos, for free(). */
static int b_get(struct bjournal *h, journal_pos pos, void **rec, size_t *len)
{
    unsigned char key[16];
    MDB_val k = {sizeof key, key}, v;
    int rc;

    PGresult *r;

    switch (h->st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        rc = journal_get(h->j, pos, rec, len);
        return rc ? lib_fail(h->st->js, "journal_get", rc) : 0;
    case IMPL_PGRAW:
        if ((rc = pr_get(h, pos, &r)) != 0)
            return rc;
        *len = (size_t)PQgetlength(r, 0, 0);
        if ((*rec = malloc(*len ? *len : 1)) != NULL)
            memcpy(*rec, PQgetvalue(r, 0, 0), *len);
        else
            rc = fail("out of memory");
        PQclear(r);
        return rc;
    case IMPL_LMDB:
        if ((rc = mdb_txn_renew(h->rtxn)) != 0)
            return mdb_fail("mdb_txn_renew", rc);
        be64_put(key, h->id);
        be64_put(key + 8, pos);
        rc = mdb_get(h->rtxn, h->st->records, &k, &v);
        if (rc == 0) {
            *rec = malloc(v.mv_size ? v.mv_size : 1);
            if (*rec) {
                memcpy(*rec, v.mv_data, v.mv_size);
                *len = v.mv_size;
            } else {
                rc = fail("out of memory");
            }
        } else {
            rc = mdb_fail("mdb_get record", rc);
        }
        mdb_txn_reset(h->rtxn);
        return rc;
    default:
        sqlite3_bind_int64(h->get, 1, (sqlite3_int64)h->id);
        sqlite3_bind_int64(h->get, 2, (sqlite3_int64)pos);
        rc = sqlite3_step(h->get);
        if (rc == SQLITE_ROW) {
            const void *p = sqlite3_column_blob(h->get, 0);
            int n = sqlite3_column_bytes(h->get, 0);
            *rec = malloc(n ? (size_t)n : 1);
            if (*rec) {
                memcpy(*rec, p, (size_t)n);
                *len = (size_t)n;
                rc = 0;
            } else {
                rc = fail("out of memory");
            }
        } else {
            rc = rc == SQLITE_DONE ? fail("sqlite: no record at %" PRIu64, pos) : sq_fail(h->db, "SELECT", rc);
        }
        sqlite3_reset(h->get);
        return rc;
    }
}

static int b_snap_begin(struct bjournal *h)
{
    int rc;
    switch (h->st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        rc = journal_snapshot_begin(h->j, &h->snap);
        return rc ? lib_fail(h->st->js, "journal_snapshot_begin", rc) : 0;
    case IMPL_LMDB:
        rc = mdb_txn_renew(h->rtxn);
        return rc ? mdb_fail("mdb_txn_renew", rc) : 0;
    case IMPL_PGRAW:
        return pr_check(h->pg, PQexec(h->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), PGRES_COMMAND_OK,
                        "BEGIN", NULL);
    default:
        return sq_step_done(h->db, h->rbegin);
    }
}

/* The record at pos, not copied: valid until the next call on h. */
static int b_snap_get(struct bjournal *h, journal_pos pos, const void **rec, size_t *len)
{
    unsigned char key[16];
    MDB_val k = {sizeof key, key}, v;
    int rc;

    switch (h->st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        rc = journal_snapshot_get(h->snap, pos, rec, len);
        return rc ? lib_fail(h->st->js, "journal_snapshot_get", rc) : 0;
    case IMPL_PGRAW:
        /* The record lives in its result, kept until the next get. */
        PQclear(h->snapres);
        h->snapres = NULL;
        if ((rc = pr_get(h, pos, &h->snapres)) != 0)
            return rc;
        *rec = PQgetvalue(h->snapres, 0, 0);
        *len = (size_t)PQgetlength(h->snapres, 0, 0);
        return 0;
    case IMPL_LMDB:
        be64_put(key, h->id);
        be64_put(key + 8, pos);
        if ((rc = mdb_get(h->rtxn, h->st->records, &k, &v)) != 0)
            return mdb_fail("mdb_get record", rc);
        *rec = v.mv_data;
        *len = v.mv_size;
        return 0;
    default:
        /* The blob lives until the statement is reset: here, at the next
         * get or at the end of the snapshot. */
        sqlite3_reset(h->get);
        sqlite3_bind_int64(h->get, 1, (sqlite3_int64)h->id);
        sqlite3_bind_int64(h->get, 2, (sqlite3_int64)pos);
        rc = sqlite3_step(h->get);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE ? fail("sqlite: no record at %" PRIu64, pos) : sq_fail(h->db, "SELECT", rc);
        *rec = sqlite3_column_blob(h->get, 0);
        *len = (size_t)sqlite3_column_bytes(h->get, 0);
        return 0;
    }
}

static int b_snap_end(struct bjournal *h)
{
    switch (h->st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        journal_snapshot_end(h->snap);
        h->snap = NULL;
        return 0;
    case IMPL_LMDB:
        mdb_txn_reset(h->rtxn);
        return 0;
    case IMPL_PGRAW:
        PQclear(h->snapres);
        h->snapres = NULL;
        return pr_check(h->pg, PQexec(h->pg, "COMMIT"), PGRES_COMMAND_OK, "COMMIT", NULL);
    default:
        sqlite3_reset(h->get);
        return sq_step_done(h->db, h->commit);
    }
}

/* Every record from `from` to the end, into a. */
static int b_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    unsigned char key[16];
    MDB_val k = {sizeof key, key}, v;
    MDB_cursor *cur = NULL;
    int rc;

    switch (h->st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        rc = journal_range(h->j, from, acc_rec, a);
        return rc ? lib_fail(h->st->js, "journal_range", rc) : 0;
    case IMPL_PGRAW:
        return pr_range(h, from, a);
    case IMPL_LMDB:
        if ((rc = mdb_txn_renew(h->rtxn)) != 0)
            return mdb_fail("mdb_txn_renew", rc);
        if ((rc = mdb_cursor_open(h->rtxn, h->st->records, &cur)) != 0) {
            rc = mdb_fail("mdb_cursor_open", rc);
            goto out_reset;
        }
        be64_put(key, h->id);
        be64_put(key + 8, from);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 16 || be64_get(k.mv_data) != h->id)
                break;
            acc_rec(a, be64_get((unsigned char *)k.mv_data + 8), v.mv_data, v.mv_size);
        }
        rc = rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_fail("mdb_cursor_get", rc);
        mdb_cursor_close(cur);
    out_reset:
        mdb_txn_reset(h->rtxn);
        return rc;
    default:
        sqlite3_bind_int64(h->rng, 1, (sqlite3_int64)h->id);
        sqlite3_bind_int64(h->rng, 2, (sqlite3_int64)from);
        while ((rc = sqlite3_step(h->rng)) == SQLITE_ROW)
            acc_rec(a, (journal_pos)sqlite3_column_int64(h->rng, 0), sqlite3_column_blob(h->rng, 1),
                    (size_t)sqlite3_column_bytes(h->rng, 1));
        sqlite3_reset(h->rng);
        return rc == SQLITE_DONE ? 0 : sq_fail(h->db, "SELECT range", rc);
    }
}

/* Every record from `from` to the end, into a, in the snapshot of
 * b_snap_begin(); the raw floor runs the cursor loop of b_range() in its
 * transaction, SQLite the range query in its read transaction. */
static int b_snap_range(struct bjournal *h, journal_pos from, struct acc *a)
{
    unsigned char key[16];
    MDB_val k = {sizeof key, key}, v;
    MDB_cursor *cur = NULL;
    int rc;

    switch (h->st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        rc = journal_snapshot_range(h->snap, from, acc_rec, a);
        return rc ? lib_fail(h->st->js, "journal_snapshot_range", rc) : 0;
    case IMPL_LMDB:
        if ((rc = mdb_cursor_open(h->rtxn, h->st->records, &cur)) != 0)
            return mdb_fail("mdb_cursor_open", rc);
        be64_put(key, h->id);
        be64_put(key + 8, from);
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 16 || be64_get(k.mv_data) != h->id)
                break;
            acc_rec(a, be64_get((unsigned char *)k.mv_data + 8), v.mv_data, v.mv_size);
        }
        mdb_cursor_close(cur);
        return rc == 0 || rc == MDB_NOTFOUND ? 0 : mdb_fail("mdb_cursor_get", rc);
    case IMPL_SQLITE:
        return b_range(h, from, a);
    default:
        return fail("%s: no snapshot range", impl_names[h->st->impl]);
    }
}

static int b_bounds(struct bjournal *h, journal_pos *begin, journal_pos *end)
{
    MDB_val k = {h->namelen, h->name}, v;
    int rc;

    switch (h->st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        rc = journal_bounds(h->j, begin, end);
        return rc ? lib_fail(h->st->js, "journal_bounds", rc) : 0;
    case IMPL_PGRAW:
        return pr_bounds(h, begin, end);
    case IMPL_LMDB:
        if ((rc = mdb_txn_renew(h->rtxn)) != 0)
            return mdb_fail("mdb_txn_renew", rc);
        rc = mdb_get(h->rtxn, h->st->catalog, &k, &v);
        if (rc == 0 && v.mv_size == 24) {
            *begin = be64_get((unsigned char *)v.mv_data + 8);
            *end = be64_get((unsigned char *)v.mv_data + 16);
        } else {
            rc = rc ? mdb_fail("mdb_get catalog", rc) : fail("lmdb: catalog entry is not 24 bytes");
        }
        mdb_txn_reset(h->rtxn);
        return rc;
    default:
        sqlite3_bind_int64(h->bnd, 1, (sqlite3_int64)h->id);
        rc = sqlite3_step(h->bnd);
        if (rc == SQLITE_ROW) {
            if (sqlite3_column_type(h->bnd, 0) == SQLITE_NULL) {
                *begin = *end = 0;
            } else {
                *begin = (journal_pos)sqlite3_column_int64(h->bnd, 0);
                *end = (journal_pos)sqlite3_column_int64(h->bnd, 1) + 1;
            }
            rc = 0;
        } else {
            rc = sq_fail(h->db, "SELECT bounds", rc);
        }
        sqlite3_reset(h->bnd);
        return rc;
    }
}

/* Setup: `n` empty journals o0, o1, ... (ids 1..n). The library can only
 * create a journal with journal_open(), one transaction each; the raw floor
 * puts catalog entries in large transactions; SQLite has no catalog, so each
 * of its journals holds one record, the least that makes it exist. */
static int b_create_others(struct bstore *st, uint64_t n, const struct bench *b)
{
    char name[32];
    journal *j;
    struct bjournal h;
    int rc = 0;

    switch (st->impl) {
    case IMPL_JOURNAL:
    case IMPL_PG:
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            snprintf(name, sizeof name, "o%010" PRIu64, i);
            if ((rc = journal_open(st->js, name, &j)) != 0)
                rc = lib_fail(st->js, "journal_open", rc);
            else
                journal_close(j);
        }
        return rc;
    case IMPL_LMDB:
        for (uint64_t i = 0; i < n && rc == 0; i += RAW_CREATE_BATCH) {
            MDB_txn *txn;
            MDB_val ik = {7, "next_id"}, iv, k, v;
            unsigned char ent[24] = {0}, idb[8];
            uint64_t next;
            if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
                return mdb_fail("mdb_txn_begin", rc);
            if ((rc = mdb_get(txn, st->meta, &ik, &iv)) != 0 || iv.mv_size != 8) {
                mdb_txn_abort(txn);
                return rc ? mdb_fail("mdb_get next_id", rc) : fail("lmdb: next_id is not 8 bytes");
            }
            next = be64_get(iv.mv_data);
            for (uint64_t x = i; x < n && x < i + RAW_CREATE_BATCH && rc == 0; x++) {
                snprintf(name, sizeof name, "o%010" PRIu64, x);
                be64_put(ent, next++);
                k.mv_size = strlen(name);
                k.mv_data = name;
                v.mv_size = sizeof ent;
                v.mv_data = ent;
                rc = mdb_put(txn, st->catalog, &k, &v, MDB_NOOVERWRITE);
            }
            be64_put(idb, next);
            iv.mv_size = sizeof idb;
            iv.mv_data = idb;
            if (rc != 0 || (rc = mdb_put(txn, st->meta, &ik, &iv, 0)) != 0) {
                mdb_txn_abort(txn);
                return mdb_fail("mdb_put catalog", rc);
            }
            if ((rc = mdb_txn_commit(txn)) != 0)
                return mdb_fail("mdb_txn_commit", rc);
        }
        return 0;
    case IMPL_PGRAW: {
        /* Catalog rows named as the library's, all in one statement. */
        char sql[512];
        PGconn *pg;
        if (n == 0)
            return 0;
        if (!(pg = pq_connect("pgraw", st->conninfo))) {
            rc = BENCH_FAIL;
        } else {
            snprintf(sql, sizeof sql,
                     "INSERT INTO %s.journals (name) SELECT convert_to('o' || lpad(g::text, 10, '0'), 'UTF8') "
                     "FROM generate_series(0, %" PRIu64 " - 1) g",
                     st->qschema, n);
            rc = pr_check(pg, PQexec(pg, sql), PGRES_COMMAND_OK, "creating the empty journals", NULL);
            PQfinish(pg);
        }
        return rc;
    }
    default:
        if ((rc = b_journal_open(&h, st, "o", 1)) == 0 && (rc = sq_step_done(h.db, h.wbegin)) == 0) {
            for (uint64_t i = 0; i < n && rc == 0; i++) {
                h.id = i + 1;
                h.end = 0;
                rc = sq_append(&h, b->batch, 1);
            }
            if (sq_step_done(h.db, rc == 0 ? h.commit : h.rollback) != 0)
                rc = BENCH_FAIL;
        }
        b_journal_close(&h);
        return rc;
    }
}

/* ------------------------------------------------------------------------ */
/* The scenarios                                                            */

static int is_pg(enum impl im)
{
    return im == IMPL_PG || im == IMPL_PGRAW;
}

/* The schema of a pg or pgraw store, unique in the run: the index of the
 * first row on the store names it. */
static void pg_schema(const struct bench *b, const struct row *rw, enum impl im, char *buf, size_t n)
{
    size_t first = (size_t)(rw - b->rows);
    for (size_t k = 0; k < first; k++) {
        if (strcmp(b->rows[k].key, rw->key) == 0) {
            first = k;
            break;
        }
    }
    snprintf(buf, n, "bench_%ld_%zu", b->pid, first * NIMPL + (size_t)im);
}

/* A directory for LMDB and SQLite; for pg and pgraw the URL with its own
 * journal_schema, last (pr_store_open() relies on that). */
static void store_path(const struct bench *b, const struct row *rw, enum impl im, char *buf, size_t n)
{
    char schema[64];
    if (is_pg(im)) {
        pg_schema(b, rw, im, schema, sizeof schema);
        snprintf(buf, n, "%s%cjournal_schema=%s", b->pg_url, strchr(b->pg_url, '?') ? '&' : '?', schema);
    } else {
        snprintf(buf, n, "%s/%s-%s", b->root, rw->key, impl_names[im]);
    }
}

/* Fills an open store as rw's spec says. */
static int fill(const struct bench *b, const struct row *rw, struct bstore *st)
{
    uint64_t per_txn = rw->spec.single ? 1 : FILL_BATCH;
    char name[16];
    struct bjournal h;
    int rc = b_create_others(st, rw->spec.others, b);

    for (unsigned i = 0; i < rw->spec.journals && rc == 0; i++) {
        snprintf(name, sizeof name, "j%u", i);
        rc = b_journal_open(&h, st, name, rw->spec.others + 1 + i);
        for (uint64_t done = 0; done < rw->spec.records && rc == 0; done += per_txn) {
            uint64_t n = rw->spec.records - done < per_txn ? rw->spec.records - done : per_txn;
            rc = b_append(&h, b->batch, (size_t)n);
        }
        b_journal_close(&h);
    }
    return rc;
}

/* Setup, in a child: the store of row rw for implementation im. A store of
 * single-record transactions is written for the library by the raw floor,
 * which writes the library's on-disk layout with the same transactions as
 * journal_append() but without syncing (the library always syncs the data
 * pages: a million of its appends would take most of an hour). Rows
 * measured fresh build their store in the measuring process instead. */
static int prepare(const struct bench *b, const struct row *rw, enum impl im)
{
    char path[PATH_MAX];
    struct bstore st;
    int rc;

    if (rw->fresh)
        return 0;
    store_path(b, rw, im, path, sizeof path);
    rc = b_store_open(&st, im == IMPL_JOURNAL && rw->spec.single ? IMPL_LMDB : im, path, DUR_NONE);
    if (rc == 0)
        rc = fill(b, rw, &st);
    if (b_store_close(&st) != 0 && rc == 0)
        rc = BENCH_FAIL;
    return rc;
}

/* The timed loop of a one-journal scenario. */
/* Whether the time of a measurement is up; reads check every 256th call,
 * so that reading the clock costs them nothing measurable. */
static int time_up(int64_t deadline, uint64_t i, uint64_t every)
{
    return deadline && i % every == 0 && now_ns() > deadline;
}

/* The timed loop of a one-journal scenario: rw->ops operations, or fewer
 * when the time `until` (0: none) comes first; *ops is how many were done. */
static int run_loop(const struct bench *b, const struct row *rw, struct bjournal *h, uint64_t seed, int64_t until,
                    uint64_t *ops)
{
    journal_pos begin, end;
    struct acc a = {0, 0};
    uint64_t span, i = 0;
    void *copy;
    const void *p;
    size_t len;
    int rc = 0;

    if ((rc = b_bounds(h, &begin, &end)) != 0)
        return rc;
    span = end - begin;
    if (span == 0 && rw->kind != K_APPEND && rw->kind != K_BATCH)
        return fail("the journal is empty");
    switch (rw->kind) {
    case K_APPEND:
        for (; i < rw->ops && rc == 0 && !time_up(until, i, 1); i++)
            rc = b_append(h, b->batch, 1);
        break;
    case K_BATCH:
        for (; i < rw->ops && rc == 0 && !time_up(until, i, 1); i += rw->param)
            rc = b_append(h, b->batch, (size_t)rw->param);
        break;
    case K_GET:
        for (; i < rw->ops && rc == 0 && !time_up(until, i, 256); i++) {
            if ((rc = b_get(h, begin + rnd_next(&seed) % span, &copy, &len)) == 0) {
                a.sum += len + (len ? *(unsigned char *)copy : 0);
                free(copy);
            }
        }
        break;
    case K_SNAPGET:
        if ((rc = b_snap_begin(h)) != 0)
            break;
        for (; i < rw->ops && rc == 0 && !time_up(until, i, 256); i++) {
            if ((rc = b_snap_get(h, begin + rnd_next(&seed) % span, &p, &len)) == 0)
                a.sum += len + (len ? *(const unsigned char *)p : 0);
        }
        if (b_snap_end(h) != 0 && rc == 0)
            rc = BENCH_FAIL;
        break;
    case K_RANGE:
        for (uint64_t pass = 0; pass < rw->param && rc == 0 && !time_up(until, pass, 1); pass++) {
            rc = b_range(h, begin, &a);
            i += span;
        }
        if (rc == 0 && a.n != i)
            rc = fail("range delivered %" PRIu64 " records, not %" PRIu64, a.n, i);
        break;
    case K_SNAPRANGE:
        if ((rc = b_snap_begin(h)) != 0)
            break;
        for (uint64_t pass = 0; pass < rw->param && rc == 0 && !time_up(until, pass, 1); pass++) {
            rc = b_snap_range(h, begin, &a);
            i += span;
        }
        if (b_snap_end(h) != 0 && rc == 0)
            rc = BENCH_FAIL;
        if (rc == 0 && a.n != i)
            rc = fail("snapshot range delivered %" PRIu64 " records, not %" PRIu64, a.n, i);
        break;
    default:
        for (; i < rw->ops && rc == 0 && !time_up(until, i, 256); i++) {
            rc = b_bounds(h, &begin, &end);
            a.sum += end;
        }
        break;
    }
    sink = a.sum;
    *ops = i;
    return rc;
}

/* Before reads are timed, one untimed pass over the journal brings its
 * pages into the process (the map) or into the page cache (SQLite), as in a
 * reader that has run for a while: the rounds measure that steady state,
 * not the page faults of a fresh process. */
static int warm_up(const struct row *rw, struct bjournal *h)
{
    journal_pos begin, end;
    struct acc a = {0, 0};
    int rc;
    if (rw->kind != K_GET && rw->kind != K_SNAPGET && rw->kind != K_RANGE && rw->kind != K_SNAPRANGE &&
        rw->kind != K_READERS)
        return 0;
    if ((rc = b_bounds(h, &begin, &end)) != 0 || begin == end)
        return rc;
    rc = b_range(h, begin, &a);
    sink = a.sum;
    return rc;
}

static int measure_one(const struct bench *b, const struct row *rw, enum impl im, unsigned round, struct outcome *o)
{
    char path[PATH_MAX];
    struct bstore st;
    struct bjournal h;
    int rc;

    store_path(b, rw, im, path, sizeof path);
    memset(&h, 0, sizeof h);
    if (rw->fresh)
        rm_rf(path); /* each round writes its store anew */
    rc = b_store_open(&st, im, path, rw->fresh ? DUR_NONE : rw->dur);
    if (rc == 0 && rw->fresh)
        rc = fill(b, rw, &st);
    if (rc == 0)
        rc = b_journal_open(&h, &st, "j0", rw->spec.others + 1);
    if (rc == 0)
        rc = warm_up(rw, &h);
    if (rc == 0) {
        int64_t start = now_ns();
        o->t0 = b->cpu_clock ? cpu_ns() : start;
        rc = run_loop(b, rw, &h, round_seed(b, round), deadline(b, start), &o->ops);
        o->t1 = b->cpu_clock ? cpu_ns() : now_ns();
    }
    b_journal_close(&h);
    if (b_store_close(&st) != 0 && rc == 0)
        rc = BENCH_FAIL;
    return rc;
}

/* Threads open their journals, then start together. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned ready;
    int state; /* 0 wait, 1 go, -1 give up */
};

struct worker {
    const struct bench *b;
    const struct row *rw;
    struct bstore *st;
    struct gate *gate;
    unsigned idx;
    uint64_t ops;
    int64_t t0, t1;
    int rc;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    const struct row *rw = w->rw;
    unsigned which = rw->shared ? 0 : w->idx;
    char name[16];
    struct bjournal h;
    int64_t limit;
    uint64_t i;
    int state;

    snprintf(name, sizeof name, "j%u", which);
    w->rc = b_journal_open(&h, w->st, name, rw->spec.others + 1 + which);
    pthread_mutex_lock(&w->gate->mu);
    w->gate->ready++;
    pthread_cond_broadcast(&w->gate->cv);
    while ((state = w->gate->state) == 0)
        pthread_cond_wait(&w->gate->cv, &w->gate->mu);
    pthread_mutex_unlock(&w->gate->mu);
    w->t0 = now_ns();
    limit = deadline(w->b, w->t0);
    for (i = 0; i < w->ops && w->rc == 0 && state > 0 && !time_up(limit, i, 1); i++)
        w->rc = rw->shared ? b_append_retry(&h, w->b->batch) : b_append(&h, w->b->batch, 1);
    w->t1 = now_ns();
    w->ops = i;
    b_journal_close(&h);
    return NULL;
}

/* param threads of one process share the store handle; each appends its
 * share of rw->ops, to its own journal or to j0. */
static int measure_threads(const struct bench *b, const struct row *rw, enum impl im, struct outcome *o)
{
    char path[PATH_MAX];
    struct bstore st;
    struct worker w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    unsigned n = (unsigned)rw->param, started = 0;
    int rc, err;

    store_path(b, rw, im, path, sizeof path);
    rc = b_store_open(&st, im, path, rw->dur);
    for (unsigned i = 0; i < n && rc == 0; i++) {
        w[i] = (struct worker){.b = b, .rw = rw, .st = &st, .gate = &gate, .idx = i, .ops = rw->ops / n};
        if (i < rw->ops % n)
            w[i].ops++;
        if ((err = pthread_create(&tid[i], NULL, worker_main, &w[i])) != 0)
            rc = fail("pthread_create: %s", strerror(err));
        else
            started++;
    }
    pthread_mutex_lock(&gate.mu);
    while (gate.ready < started)
        pthread_cond_wait(&gate.cv, &gate.mu);
    gate.state = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    o->t0 = INT64_MAX;
    o->t1 = 0;
    o->ops = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        if (w[i].rc != 0 && rc == 0)
            rc = w[i].rc;
        o->ops += w[i].ops;
        if (w[i].t0 < o->t0)
            o->t0 = w[i].t0;
        if (w[i].t1 > o->t1)
            o->t1 = w[i].t1;
    }
    if (b_store_close(&st) != 0 && rc == 0)
        rc = BENCH_FAIL;
    return rc;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads up to n bytes; returns how many came before end of file. */
static size_t read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR && !stop_signal)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* A reader process: opens the store itself, says it is ready, waits for
 * the start (end of file on `go`), does its gets, reports. */
static void reader_main(const struct bench *b, const struct row *rw, enum impl im, unsigned round, unsigned idx,
                        int ready, int go, int res)
{
    char path[PATH_MAX], c;
    struct bstore st;
    struct bjournal h;
    struct outcome o;
    int rc;

    memset(&o, 0, sizeof o);
    memset(&h, 0, sizeof h);
    store_path(b, rw, im, path, sizeof path);
    rc = b_store_open(&st, im, path, rw->dur);
    if (rc == 0)
        rc = b_journal_open(&h, &st, "j0", rw->spec.others + 1);
    if (rc == 0)
        rc = warm_up(rw, &h);
    c = rc == 0 ? 'r' : 'f';
    write_all(ready, &c, 1);
    read_all(go, &c, 1);
    if (rc == 0) {
        struct row one = *rw;
        one.kind = K_GET;
        o.t0 = now_ns();
        rc = run_loop(b, &one, &h, round_seed(b, round) + idx, deadline(b, o.t0), &o.ops);
        o.t1 = now_ns();
    }
    b_journal_close(&h);
    if (b_store_close(&st) != 0 && rc == 0)
        rc = BENCH_FAIL;
    o.ok = rc == 0;
    snprintf(o.err, sizeof o.err, "%s", err_msg);
    write_all(res, &o, sizeof o);
}

static int measure_readers(const struct bench *b, const struct row *rw, enum impl im, unsigned round, struct outcome *o)
{
    int ready[2], go[2], res[2], rc = 0;
    unsigned n = (unsigned)rw->param, forked = 0;
    pid_t pids[MAX_THREADS];
    char c;

    if (pipe(ready) != 0 || pipe(go) != 0 || pipe(res) != 0)
        return fail("pipe: %s", strerror(errno));
    for (unsigned i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = fail("fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            close(ready[0]);
            close(go[1]);
            close(res[0]);
            reader_main(b, rw, im, round, i, ready[1], go[0], res[1]);
            _exit(0);
        }
        pids[forked++] = pid;
    }
    close(ready[1]);
    close(go[0]);
    close(res[1]);
    /* A reader that could not open the store says so ('f'), then reports
     * why with its outcome. */
    for (unsigned i = 0; i < forked; i++)
        if (read_all(ready[0], &c, 1) != 1 && rc == 0)
            rc = fail("a reader process died before it was ready");
    o->t0 = now_ns();
    close(go[1]); /* the start */
    o->t1 = 0;
    o->ops = 0;
    for (unsigned i = 0; i < forked; i++) {
        struct outcome r;
        if (read_all(res[0], &r, sizeof r) != sizeof r) {
            rc = rc ? rc : fail("a reader process died");
            continue;
        }
        if (!r.ok && rc == 0)
            rc = fail("%s", r.err);
        o->ops += r.ops;
        if (r.t1 > o->t1)
            o->t1 = r.t1;
    }
    for (unsigned i = 0; i < forked; i++)
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    close(ready[0]);
    close(res[0]);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Running children                                                         */

enum job { JOB_PREPARE, JOB_MEASURE, JOB_NOTHING };

/* Runs one job in a child; *rss_kib is its peak resident memory. */
static int run_child(const struct bench *b, const struct row *rw, enum impl im, unsigned round, enum job job,
                     struct outcome *o, long *rss_kib)
{
    int fds[2], status, rc;
    struct rusage ru;
    pid_t pid;

    memset(o, 0, sizeof *o);
    if (pipe(fds) != 0) {
        snprintf(o->err, sizeof o->err, "pipe: %s", strerror(errno));
        return BENCH_FAIL;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        snprintf(o->err, sizeof o->err, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return BENCH_FAIL;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(fds[0]);
        switch (job) {
        case JOB_PREPARE:
            rc = prepare(b, rw, im);
            break;
        case JOB_MEASURE:
            rc = rw->kind == K_THREADS   ? measure_threads(b, rw, im, o)
                 : rw->kind == K_READERS ? measure_readers(b, rw, im, round, o)
                                         : measure_one(b, rw, im, round, o);
            break;
        default:
            rc = 0;
            break;
        }
        o->ok = rc == 0;
        snprintf(o->err, sizeof o->err, "%s", err_msg);
        write_all(fds[1], o, sizeof *o);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    rc = read_all(fds[0], o, sizeof *o) == sizeof *o ? 0 : BENCH_FAIL;
    close(fds[0]);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            status = 0;
            memset(&ru, 0, sizeof ru);
            break;
        }
        if (stop_signal)
            kill(pid, SIGKILL);
    }
    *rss_kib = ru.ru_maxrss;
    if (WIFSIGNALED(status)) {
        snprintf(o->err, sizeof o->err, "killed by signal %d", WTERMSIG(status));
        rc = BENCH_FAIL;
    } else if (rc != 0 || !o->ok) {
        if (!o->err[0])
            snprintf(o->err, sizeof o->err, "the child process failed (status %d)", WEXITSTATUS(status));
        rc = BENCH_FAIL;
    }
    return rc;
}

static int is_tty;

/* On a terminal, one line rewritten at each step; elsewhere (a log), one
 * line per row and store, the steps (detail) left out. */
static void progress(int detail, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void progress(int detail, const char *fmt, ...)
{
    char line[200];
    va_list ap;
    if (detail && !is_tty)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (is_tty)
        fprintf(stderr, "\r\033[K%s: %s", PROG, line);
    else
        fprintf(stderr, "%s: %s\n", PROG, line);
}

static int key_used_after(const struct bench *b, size_t i)
{
    for (size_t k = i + 1; k < b->nrows; k++)
        if (strcmp(b->rows[k].key, b->rows[i].key) == 0)
            return 1;
    return 0;
}

static int key_used_before(const struct bench *b, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (strcmp(b->rows[k].key, b->rows[i].key) == 0)
            return 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The server of pg and pgraw, seen from the parent                         */

/* The parent connects only between children and closes before the next
 * fork(): a libpq connection does not survive fork() either. */
static PGconn *admin_connect(const struct bench *b)
{
    PGconn *pg = pq_connect("--pg-url", b->pg_url);
    if (!pg) {
        fprintf(stderr, "%s: %s\n", PROG, err_msg);
        err_msg[0] = '\0';
    }
    return pg;
}

static PGresult *admin_exec(PGconn *pg, const char *sql, ExecStatusType want)
{
    PGresult *r = PQexec(pg, sql);
    if (PQresultStatus(r) != want) {
        const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(pg);
        fprintf(stderr, "%s: postgresql: %s: %.*s\n", PROG, sql, (int)strcspn(msg, "\n"), msg);
        PQclear(r);
        return NULL;
    }
    return r;
}

/* Drops the schemas of this run (bench_<pid>_*) or, given one, that one. */
static int drop_schemas(const struct bench *b, const char *schema)
{
    char like[96], sql[256];
    PGconn *pg = admin_connect(b);
    PGresult *r = NULL, *d;
    int rc = 1;

    if (!pg)
        return 1;
    /* _ is a wildcard of LIKE; the escaped one matches itself. */
    if (schema) {
        snprintf(sql, sizeof sql, "SELECT quote_ident(nspname) FROM pg_namespace WHERE nspname = '%s'", schema);
    } else {
        snprintf(like, sizeof like, "bench\\_%ld\\_%%", b->pid);
        snprintf(sql, sizeof sql, "SELECT quote_ident(nspname) FROM pg_namespace WHERE nspname LIKE '%s'", like);
    }
    if (!(r = admin_exec(pg, sql, PGRES_TUPLES_OK)))
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", PQgetvalue(r, i, 0));
        if (!(d = admin_exec(pg, sql, PGRES_COMMAND_OK)))
            goto out;
        PQclear(d);
    }
    rc = 0;
out:
    PQclear(r);
    PQfinish(pg);
    return rc;
}

/* After the setup of a pg or pgraw store: statistics for its tables, as
 * autovacuum would gather on a store in use; without them the planner
 * guesses, and sorts a range it could read in index order. */
static int analyze_schema(const struct bench *b, const char *schema)
{
    char sql[256];
    PGconn *pg = admin_connect(b);
    PGresult *r;

    if (!pg)
        return 1;
    snprintf(sql, sizeof sql, "ANALYZE \"%.63s\".journals, \"%.63s\".records", schema, schema);
    r = admin_exec(pg, sql, PGRES_COMMAND_OK);
    PQclear(r);
    PQfinish(pg);
    return r ? 0 : 1;
}

/* Before the run: the server answers, its version for the table, and no
 * schema of an earlier run with this pid (one killed before it could drop
 * them) is taken for a store of this one. */
static int pg_start(struct bench *b)
{
    PGconn *pg = admin_connect(b);
    PGresult *r;

    if (!pg)
        return 1;
    r = admin_exec(pg, "SELECT current_setting('server_version') || ', fsync ' || current_setting('fsync')",
                   PGRES_TUPLES_OK);
    if (r) {
        snprintf(b->pg_version, sizeof b->pg_version, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    PQfinish(pg);
    return r ? drop_schemas(b, NULL) : 1;
}

/* Whether implementation im runs row rw. */
static int runs(const struct bench *b, const struct row *rw, enum impl im)
{
    return (b->impl_mask & 1u << im) && !(rw->skip & 1u << im);
}

static int run_rows(struct bench *b)
{
    struct outcome o;
    char path[PATH_MAX];
    long rss;

    for (size_t i = 0; i < b->nrows && !stop_signal; i++) {
        struct row *rw = &b->rows[i];
        enum impl order[NIMPL];
        unsigned nrun = 0;
        for (int im = 0; im < NIMPL; im++)
            if (runs(b, rw, (enum impl)im))
                order[nrun++] = (enum impl)im;
        if (!key_used_before(b, i)) {
            progress(0, "[%zu/%zu] %s: preparing the stores", i + 1, b->nrows, rw->name);
            for (int im = 0; im < NIMPL && !stop_signal; im++) {
                if (!runs(b, rw, (enum impl)im))
                    continue;
                progress(1, "[%zu/%zu] %s: preparing the %s store", i + 1, b->nrows, rw->name, impl_names[im]);
                if (run_child(b, rw, (enum impl)im, 0, JOB_PREPARE, &o, &rss) != 0) {
                    fprintf(stderr, "%s%s: preparing %s (%s): %s\n", is_tty ? "\n" : "", PROG, rw->name, impl_names[im],
                            o.err);
                    return 1;
                }
                if (is_pg((enum impl)im)) {
                    pg_schema(b, rw, (enum impl)im, path, sizeof path);
                    if (analyze_schema(b, path) != 0)
                        return 1;
                }
            }
        }
        progress(0, "[%zu/%zu] %s: %u rounds", i + 1, b->nrows, rw->name, b->rounds);
        for (unsigned r = 0; r < b->rounds && !stop_signal; r++) {
            for (unsigned k = 0; k < nrun && !stop_signal; k++) {
                enum impl im = order[(k + r) % nrun];
                progress(1, "[%zu/%zu] %s: round %u/%u, %s", i + 1, b->nrows, rw->name, r + 1, b->rounds,
                         impl_names[im]);
                if (run_child(b, rw, im, r, JOB_MEASURE, &o, &rss) != 0) {
                    if (stop_signal)
                        break;
                    fprintf(stderr, "%s%s: %s (%s): %s\n", is_tty ? "\n" : "", PROG, rw->name, impl_names[im], o.err);
                    return 1;
                }
                rw->rate[im][r] = o.t1 > o.t0 ? (double)o.ops * 1e9 / (double)(o.t1 - o.t0) : 0;
                if (rss > rw->rss_kib[im])
                    rw->rss_kib[im] = rss;
                if (r == 0 || o.ops < rw->least[im])
                    rw->least[im] = o.ops;
            }
        }
        rw->done = !stop_signal;
        if (!b->keep && !key_used_after(b, i)) {
            for (int im = 0; im < NIMPL; im++) {
                if (!is_pg((enum impl)im)) {
                    store_path(b, rw, (enum impl)im, path, sizeof path);
                    rm_rf(path);
                } else if (runs(b, rw, (enum impl)im)) {
                    pg_schema(b, rw, (enum impl)im, path, sizeof path);
                    if (drop_schemas(b, path) != 0)
                        return 1;
                }
            }
        }
    }
    if (is_tty)
        fprintf(stderr, "\r\033[K");
    if (stop_signal) {
        fprintf(stderr, "%s: stopped by signal %d\n", PROG, (int)stop_signal);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Rows                                                                     */

static struct row *add_row(struct bench *b, const char *name, const char *key, enum kind kind, enum dur dur,
                           const char *unit, uint64_t ops)
{
    struct row *rw = &b->rows[b->nrows++];
    memset(rw, 0, sizeof *rw);
    snprintf(rw->name, sizeof rw->name, "%s", name);
    snprintf(rw->key, sizeof rw->key, "%s", key);
    rw->kind = kind;
    rw->dur = dur;
    rw->unit = unit;
    rw->ops = ops;
    rw->spec.journals = 1;
    return rw;
}

/*
 * Scenario 11: the reads on the layouts a user's store may have, each
 * against the raw floor on a store of the same layout (SQLite, whose file
 * has no such layouts, runs only on the first). The library's cost may
 * depend on where LMDB put the pages it reads (see doc/performance.md), so
 * the README shows each read at its worst layout.
 */
#define NLAYOUTS 7

static void add_layout_rows(struct bench *b)
{
    static const struct {
        enum kind kind;
        const char *name, *unit;
    } reads[] = {{K_BOUNDS, "bounds", "call/s"},
                 {K_RANGE, "range", "rec/s"},
                 {K_SNAPRANGE, "snapshot-range", "rec/s"},
                 {K_GET, "get", "get/s"},
                 {K_SNAPGET, "snapshot-get", "get/s"}};
    struct {
        const char *label; /* %s: the record count */
        char key[40];
        struct spec spec;
        int fresh;
    } lay[NLAYOUTS];
    char c[24], label[24], name[40];
    unsigned n = 0;

    fmt_count(c, sizeof c, b->records);
    lay[n++] = (__typeof__(lay[0])){"b%s-fresh", "fresh", {0, 1, b->records, 0}, 1};
    lay[n++] = (__typeof__(lay[0])){"b%s", "read", {0, 1, b->records, 0}, 0};
    lay[n++] = (__typeof__(lay[0])){"s%s", "single", {0, 1, b->records, 1}, 0};
    lay[n++] = (__typeof__(lay[0])){"b%s", "batch-large", {0, 1, b->records * 10, 0}, 0};
    lay[n++] = (__typeof__(lay[0])){"s%s", "single-large", {0, 1, b->records * 10, 1}, 0};
    /* The layout of issue 15: 500 batches of 1,000, reopened. */
    lay[n++] = (__typeof__(lay[0])){"issue15", "issue15", {0, 1, b->records * 5, 0}, 0};
    /* The journal store of scenario 10 (keyed alike, so that both share it). */
    fmt_count(c, sizeof c, b->journals);
    lay[n] = (__typeof__(lay[0])){"j%s", "", {b->journals - 1, 1, b->scale[0], 0}, 0};
    snprintf(lay[n++].key, sizeof lay[0].key, "journals-%s", c);

    for (unsigned l = 0; l < n; l++) {
        fmt_count(c, sizeof c, l == n - 1 ? b->journals : lay[l].spec.records);
        snprintf(label, sizeof label, lay[l].label, c);
        /* Ranges over a small journal make more passes, so that each
         * measurement lasts as long as on the read journal. */
        uint64_t passes = b->passes * (lay[l].spec.records < b->records ? b->records / lay[l].spec.records : 1);
        for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
            int ranged = reads[r].kind == K_RANGE || reads[r].kind == K_SNAPRANGE;
            struct row *rw;
            /* The first layout's reads but snapshot-range are scenarios 4 to 7. */
            if (l == 1 && reads[r].kind != K_SNAPRANGE)
                continue;
            snprintf(name, sizeof name, "%s@%s", reads[r].name, label);
            rw = add_row(b, name, lay[l].key, reads[r].kind, DUR_NONE, reads[r].unit,
                         ranged ? passes * lay[l].spec.records : b->reads);
            rw->spec = lay[l].spec;
            rw->fresh = lay[l].fresh;
            rw->param = ranged ? passes : 0;
            rw->skip = IMPL_PGS | (l == 1 ? 0 : 1u << IMPL_SQLITE);
        }
    }
}

static int build_rows(struct bench *b)
{
    size_t max = 16 + 2 * MAX_LIST + MAX_LIST + 2 * MAX_LIST + 4 + NLAYOUTS * 5 + 1;
    char name[40], key[40], c[24];
    struct spec read = {0, 1, b->records, 0};
    struct row *rw;

    b->rows = calloc(max, sizeof *b->rows);
    if (!b->rows)
        return -1;
    if (b->groups & 1u << 1)
        add_row(b, "append", "append", K_APPEND, DUR_SYNC, "rec/s", b->appends);
    if (b->groups & 1u << 2)
        add_row(b, "append-nosync", "nosync", K_APPEND, DUR_NOSYNC, "rec/s", b->appends);
    if (b->groups & 1u << 3) {
        fmt_count(c, sizeof c, b->batch_size);
        snprintf(name, sizeof name, "batch-%s", c);
        rw = add_row(b, name, "batch", K_BATCH, DUR_SYNC, "rec/s", b->batches * b->batch_size);
        rw->param = b->batch_size;
    }
    if (b->groups & 1u << 4)
        add_row(b, "get", "read", K_GET, DUR_NONE, "get/s", b->reads)->spec = read;
    if (b->groups & 1u << 5)
        add_row(b, "snapshot-get", "read", K_SNAPGET, DUR_NONE, "get/s", b->reads)->spec = read;
    if (b->groups & 1u << 6) {
        rw = add_row(b, "range", "read", K_RANGE, DUR_NONE, "rec/s", b->passes * b->records);
        rw->spec = read;
        rw->param = b->passes;
    }
    if (b->groups & 1u << 7)
        add_row(b, "bounds", "read", K_BOUNDS, DUR_NONE, "call/s", b->reads)->spec = read;
    if (b->groups & 1u << 8) {
        for (unsigned i = 0; i < b->nthreads; i++) {
            snprintf(name, sizeof name, "threads-own-%u", b->threads[i]);
            rw = add_row(b, name, name, K_THREADS, DUR_SYNC, "rec/s", b->appends);
            rw->param = b->threads[i];
            rw->spec.journals = b->threads[i];
        }
        for (unsigned i = 0; i < b->nthreads; i++) {
            if (b->threads[i] < 2)
                continue;
            snprintf(name, sizeof name, "threads-shared-%u", b->threads[i]);
            rw = add_row(b, name, name, K_THREADS, DUR_SYNC, "rec/s", b->appends);
            rw->param = b->threads[i];
            rw->shared = 1;
        }
    }
    if (b->groups & 1u << 9) {
        for (unsigned i = 0; i < b->nprocs; i++) {
            snprintf(name, sizeof name, "readers-%u", b->procs[i]);
            rw = add_row(b, name, "read", K_READERS, DUR_NONE, "get/s", b->reads);
            rw->spec = read;
            rw->param = b->procs[i];
        }
    }
    if (b->groups & 1u << 10) {
        for (unsigned i = 0; i < b->nscale; i++) {
            struct spec sp = {0, 1, b->scale[i], 0};
            unsigned skip = b->scale[i] > PG_SCALE_MAX ? IMPL_PGS : 0;
            fmt_count(c, sizeof c, b->scale[i]);
            snprintf(key, sizeof key, "scale-%s", c);
            snprintf(name, sizeof name, "scale-get-%s", c);
            rw = add_row(b, name, key, K_GET, DUR_NONE, "get/s", b->reads);
            rw->spec = sp;
            rw->skip = skip;
            snprintf(name, sizeof name, "scale-append-%s", c);
            rw = add_row(b, name, key, K_APPEND, DUR_NOSYNC, "rec/s", b->appends);
            rw->spec = sp;
            rw->skip = skip;
        }
        /* The measured journal is created last, so its records sort last
         * and the raw floor may use MDB_APPEND in both stores. */
        for (int many = 0; many < 2; many++) {
            uint64_t n = many ? b->journals : 1;
            struct spec sp = {n - 1, 1, b->scale[0], 0};
            fmt_count(c, sizeof c, n);
            snprintf(key, sizeof key, "journals-%s", c);
            snprintf(name, sizeof name, "journals-%s-get", c);
            add_row(b, name, key, K_GET, DUR_NONE, "get/s", b->reads)->spec = sp;
            snprintf(name, sizeof name, "journals-%s-append", c);
            add_row(b, name, key, K_APPEND, DUR_NOSYNC, "rec/s", b->appends)->spec = sp;
        }
    }
    if (b->groups & 1u << 11)
        add_layout_rows(b);
    for (size_t i = 0; i < b->nrows; i++)
        for (int im = 0; im < NIMPL; im++)
            if (!(b->rows[i].rate[im] = calloc(b->rounds, sizeof(double))))
                return -1;
    return 0;
}

static void free_rows(struct bench *b)
{
    for (size_t i = 0; i < b->nrows; i++)
        for (int im = 0; im < NIMPL; im++)
            free(b->rows[i].rate[im]);
    free(b->rows);
}

/* ------------------------------------------------------------------------ */
/* Reports                                                                  */

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;
    return (a > c) - (a < c);
}

static double median(const double *v, unsigned n)
{
    double s[64];
    unsigned m = n < 64 ? n : 64;
    memcpy(s, v, m * sizeof *s);
    qsort(s, m, sizeof *s, cmp_double);
    return m % 2 ? s[m / 2] : (s[m / 2 - 1] + s[m / 2]) / 2;
}

/* The time ratio a/o (above 1: a is slower): the median over the rounds of
 * the ratio within each round, where the two ran side by side, so that the
 * drift of a busy machine between rounds cancels out. */
static double time_ratio(const struct row *rw, enum impl a, enum impl o, unsigned rounds)
{
    double x[64];
    unsigned n = 0;
    for (unsigned r = 0; r < rounds && r < 64; r++)
        if (rw->rate[a][r] > 0)
            x[n++] = rw->rate[o][r] / rw->rate[a][r];
    return n ? median(x, n) : 0;
}

/* The lowest and highest per-round ratio journal/lmdb: how far the median
 * ratio can be trusted. Rounds alternate, so each pair ran side by side. */
static void ratio_spread(const struct row *rw, unsigned rounds, double *lo, double *hi)
{
    *lo = 1e300;
    *hi = 0;
    for (unsigned r = 0; r < rounds; r++) {
        double x = rw->rate[IMPL_JOURNAL][r] > 0 ? rw->rate[IMPL_LMDB][r] / rw->rate[IMPL_JOURNAL][r] : 0;
        if (x < *lo)
            *lo = x;
        if (x > *hi)
            *hi = x;
    }
}

static void fmt_rate(char *buf, size_t n, double v)
{
    char digits[32];
    size_t len, o = 0;
    snprintf(digits, sizeof digits, "%.0f", v);
    len = strlen(digits);
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

static int has(const struct bench *b, enum impl im)
{
    return (b->impl_mask & 1u << im) != 0;
}

static void machine_line(char *buf, size_t n)
{
    char model[128] = "unknown CPU", line[256];
    FILE *f = fopen("/proc/cpuinfo", "r");
    double mem = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / (1 << 30);
    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *p = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && p) {
                snprintf(model, sizeof model, "%s", p + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        }
        fclose(f);
    }
    snprintf(buf, n, "%ld CPUs (%s), %.1f GiB memory", sysconf(_SC_NPROCESSORS_ONLN), model, mem);
}

/* The 1-minute load average: a busy machine makes every number noisy. */
static double load_average(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static const char *fs_name(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) != 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53:
        return "ext2/3/4";
    case 0x01021994:
        return "tmpfs: syncs cost nothing";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x794C7630:
        return "overlayfs";
    default:
        return "other";
    }
}

static void print_pg_notes(const struct bench *b, FILE *f)
{
    int skipped = 0;
    for (size_t i = 0; i < b->nrows; i++)
        skipped |= b->rows[i].done && (b->rows[i].skip & IMPL_PGS);
    fprintf(
        f,
        "- pg: the library on the server of --pg-url, each store its schema bench_%ld_<n>, dropped after its rows;\n"
        "  pg/pgraw is a time ratio like j/lmdb (above 1.00x the library is slower). pg's peak RSS is in the CSV\n"
        "  only: the server does the work, in processes of its own.\n",
        b->pid);
    fprintf(f,
            "- pgraw is pg's floor: the library's tables, one connection per thread, prepared statements with binary\n"
            "  parameters and results; an append (one record or a batch as one bytea[]) is one statement that\n"
            "  updates the end only where it is the expected one and inserts the records; get, bounds and range\n"
            "  are one select each, range streamed row by row (single-row mode) as the library's is; a snapshot\n"
            "  is a REPEATABLE READ READ ONLY transaction. It leaves out what only the library does: notifying\n"
            "  journal_wait(), the bounds on every row of a range, and keeping every snapshot get's result.\n"
            "  Both stores' tables are ANALYZEd after the setup (untimed), as autovacuum would on a store in use.\n"
            "  Durable rows run with synchronous_commit on, the others with it off (JOURNAL_NOSYNC's mapping);\n"
            "  on a server with fsync off (the header says; tools/pg-server.sh's has) the two cost about the same.\n");
    if (skipped)
        fprintf(f,
                "- scale rows of journals above %d records do not run pg and pgraw (-): filling them through the\n"
                "  server would take minutes.\n",
                PG_SCALE_MAX);
}

/* Each read scenario at the layout where journal/lmdb is highest. */
static void print_worst(const struct bench *b, FILE *f)
{
    static const struct {
        enum kind kind;
        const char *name;
    } reads[] = {{K_BOUNDS, "bounds"},
                 {K_RANGE, "range"},
                 {K_SNAPRANGE, "snapshot-range"},
                 {K_GET, "get"},
                 {K_SNAPGET, "snapshot-get"}};
    int header = 0;

    if (!has(b, IMPL_JOURNAL) || !has(b, IMPL_LMDB))
        return;
    for (size_t r = 0; r < sizeof reads / sizeof reads[0]; r++) {
        const struct row *worst = NULL;
        double wr = 0, best = 1e300;
        unsigned n = 0;
        for (size_t i = 0; i < b->nrows; i++) {
            const struct row *rw = &b->rows[i];
            double x;
            if (!rw->done || rw->kind != reads[r].kind || !runs(b, rw, IMPL_LMDB))
                continue;
            x = time_ratio(rw, IMPL_JOURNAL, IMPL_LMDB, b->rounds);
            n++;
            if (x < best)
                best = x;
            if (!worst || x > wr) {
                worst = rw;
                wr = x;
            }
        }
        if (n < 2)
            continue;
        if (!header)
            fprintf(f, "\nreads at their worst layout (j/lmdb, highest of the rows of that read):\n");
        header = 1;
        fprintf(f, "  %-15s %.2fx at %s (best %.2fx, %u layouts)\n", reads[r].name, wr, worst->name, best, n);
    }
}

static void print_table(const struct bench *b, FILE *f)
{
    char date[64], mach[256], rates[NIMPL][32], c1[24], c2[24];
    time_t t = time(NULL);
    int mv, mn, mp;

    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    machine_line(mach, sizeof mach);
    mdb_version(&mv, &mn, &mp);
    fprintf(f, "%s %s: libjournal %s, LMDB %d.%d.%d, SQLite %s", PROG, JOURNAL_VERSION_STRING, journal_version(), mv,
            mn, mp, sqlite3_libversion());
    if (b->impl_mask & IMPL_PGS) {
        char pqv[32];
        fprintf(f, ", PostgreSQL %s (libpq %s)", b->pg_version, pq_version(pqv, sizeof pqv));
    }
    fprintf(f, "\n");
    fprintf(f, "%s; %s; load average %.1f at the start, %.1f at the end; stores on %s (%s)\n", date, mach, b->load[0],
            b->load[1], b->dir, fs_name(b->root));
    fmt_count(c1, sizeof c1, b->records);
    fmt_count(c2, sizeof c2, b->journals);
    fprintf(f,
            "record %zu bytes; %u rounds, median; appends %" PRIu64 "/round, batches %" PRIu64 "x%" PRIu64
            ", reads %" PRIu64 "/round, read journal %s records, range %" PRIu64 " passes, journals %s;\n"
            "a measurement stops after %.2f s when its count is not done (0: never); %s\n\n",
            b->size, b->rounds, b->appends, b->batches, b->batch_size, b->reads, c1, b->passes, c2,
            (double)b->max_ns / 1e9,
            b->cpu_clock ? "rows of one thread are timed by CPU time\n(--clock=cpu, waits for the disk left out), "
                           "threads-* and readers-* by the wall clock"
                         : "timed by the wall clock");
    fprintf(f, "%-22s %-6s %12s %12s %12s %8s %11s %8s %12s %12s %8s  %s\n", "scenario", "unit", "journal", "lmdb",
            "sqlite", "j/lmdb", "(rounds)", "j/sqlite", "pg", "pgraw", "pg/pgraw", "peak RSS MiB j/l/s");
    for (size_t i = 0; i < b->nrows; i++) {
        const struct row *rw = &b->rows[i];
        char jl[16] = "-", range[24] = "-", js[16] = "-", pr[16] = "-", rss[48];
        if (!rw->done)
            continue;
        for (int im = 0; im < NIMPL; im++) {
            if (runs(b, rw, (enum impl)im))
                fmt_rate(rates[im], sizeof rates[im], median(rw->rate[im], b->rounds));
            else
                snprintf(rates[im], sizeof rates[im], "-");
        }
        if (has(b, IMPL_JOURNAL) && has(b, IMPL_LMDB)) {
            double lo, hi;
            ratio_spread(rw, b->rounds, &lo, &hi);
            snprintf(jl, sizeof jl, "%.2fx", time_ratio(rw, IMPL_JOURNAL, IMPL_LMDB, b->rounds));
            snprintf(range, sizeof range, "%.2f-%.2f", lo, hi);
        }
        if (has(b, IMPL_JOURNAL) && runs(b, rw, IMPL_SQLITE))
            snprintf(js, sizeof js, "%.2fx", time_ratio(rw, IMPL_JOURNAL, IMPL_SQLITE, b->rounds));
        if (runs(b, rw, IMPL_PG) && runs(b, rw, IMPL_PGRAW))
            snprintf(pr, sizeof pr, "%.2fx", time_ratio(rw, IMPL_PG, IMPL_PGRAW, b->rounds));
        snprintf(rss, sizeof rss, "%.1f/%.1f/%.1f", rw->rss_kib[0] / 1024.0, rw->rss_kib[1] / 1024.0,
                 rw->rss_kib[2] / 1024.0);
        fprintf(f, "%-22s %-6s %12s %12s %12s %8s %11s %8s %12s %12s %8s  %s\n", rw->name, rw->unit, rates[0], rates[1],
                rates[2], jl, range, js, rates[IMPL_PG], rates[IMPL_PGRAW], pr, rss);
    }
    print_worst(b, f);
    fprintf(f, "\nnotes:\n");
    fprintf(f,
            "- ops/s are medians of the rounds; the %s ran in turn in every round, the first one rotating.\n"
            "  A measurement does its count or stops at the time limit; the CSV gives the fewest done.\n",
            b->impl_mask & IMPL_PGS ? "implementations" : "three");
    fprintf(f, "- j/lmdb and j/sqlite are time ratios (time per operation of journal / of the other; above 1.00x the\n"
               "  journal is slower), the median of the ratios within each round, where the two ran side by side.\n"
               "  (rounds) is the lowest and highest j/lmdb of single rounds.\n");
    fprintf(f, "- lmdb is the floor: the library's on-disk layout, one write transaction per append that reads the\n"
               "  catalog entry, checks the end, puts the records (MDB_APPEND where they sort last, else\n"
               "  MDB_NOOVERWRITE) and the new end; reads in one reused read transaction (mdb_txn_reset/renew).\n");
    fprintf(
        f,
        "- sqlite: WAL, one WITHOUT ROWID table keyed by (journal, position), prepared statements;\n"
        "  synchronous=FULL for durable rows, NORMAL for append-nosync and scale/journals appends, OFF for reads.\n");
    fprintf(f, "- append-nosync: the library commits JOURNAL_NOSYNC appends with MDB_NOSYNC and makes a steady point\n"
               "  (a pinned, synced state it returns to after a machine crash) every 50 ms; the floor is plain\n"
               "  MDB_NOSYNC, which LMDB documents can corrupt a store on a machine crash: the library's\n"
               "  guarantee is SQLite's (consistent, may lose the last commits), at about the floor's cost.\n");
    fprintf(f, "- threads-own-N: N threads, each its own journal in one store (one store handle, one SQLite\n"
               "  connection per thread); threads-shared-N: all append to one journal, retrying after conflicts\n"
               "  (journal_append_retry). Appends are durable; rec/s is the aggregate.\n");
    fprintf(f, "- readers-N: N processes, each opening the store itself, copying gets at once; aggregate gets/s.\n");
    fprintf(f,
            "- scale-*-N: one journal of N records in its own store; journals-N-*: a journal of %" PRIu64
            " records in a store\n"
            "  with N journals (the others empty; SQLite has no catalog, so there each holds one record).\n"
            "  Scale appends use JOURNAL_NOSYNC.\n",
            b->scale[0]);
    fprintf(f,
            "- name@layout: the read on a store of that layout (scenario 11): bN one journal of N records written\n"
            "  in batches of %d, sN written one record per transaction (for the library too by the raw floor,\n"
            "  which writes its layout without syncing), -fresh measured in the process that wrote it without\n"
            "  reopening, -issue15 the layout of issue 15 (500 batches of 1,000), jN the store of journals-N.\n"
            "  SQLite runs only on the first of them; every other row reopens its store in a new process.\n",
            FILL_BATCH);
    fprintf(f,
            "- gets and ranges are timed after one untimed pass over the journal (a reader's steady state, not\n"
            "  the page faults of a fresh process); peak RSS is ru_maxrss of the process that ran the round, the\n"
            "  store pages it touched through the map included; a process doing nothing peaks at %.1f MiB.\n",
            b->base_rss_kib / 1024.0);
    if (b->impl_mask & IMPL_PGS)
        print_pg_notes(b, f);
}

/* Writes and closes b->csv_file, opened before the run so that a path that
 * cannot be written fails at once rather than after the run. */
static int write_csv(struct bench *b)
{
    FILE *f = b->csv_file;
    int rc;

    b->csv_file = NULL;
    fprintf(f, "scenario,unit,ops_per_round,rounds");
    for (int im = 0; im < NIMPL; im++)
        fprintf(f, ",%s_ops_s", impl_names[im]);
    fprintf(f, ",journal_vs_lmdb,journal_vs_sqlite,pg_vs_pgraw");
    for (int im = 0; im < NIMPL; im++)
        fprintf(f, ",%s_min_ops_s,%s_max_ops_s", impl_names[im], impl_names[im]);
    for (int im = 0; im < NIMPL; im++)
        fprintf(f, ",%s_rss_kib", impl_names[im]);
    for (int im = 0; im < NIMPL; im++)
        fprintf(f, ",%s_least_ops", impl_names[im]);
    fprintf(f, "\n");
    for (size_t i = 0; i < b->nrows; i++) {
        const struct row *rw = &b->rows[i];
        if (!rw->done)
            continue;
        fprintf(f, "%s,%s,%" PRIu64 ",%u", rw->name, rw->unit, rw->ops, b->rounds);
        for (int im = 0; im < NIMPL; im++) {
            if (runs(b, rw, (enum impl)im))
                fprintf(f, ",%.1f", median(rw->rate[im], b->rounds));
            else
                fprintf(f, ",");
        }
        if (has(b, IMPL_JOURNAL) && has(b, IMPL_LMDB))
            fprintf(f, ",%.4f", time_ratio(rw, IMPL_JOURNAL, IMPL_LMDB, b->rounds));
        else
            fprintf(f, ",");
        if (has(b, IMPL_JOURNAL) && has(b, IMPL_SQLITE))
            fprintf(f, ",%.4f", time_ratio(rw, IMPL_JOURNAL, IMPL_SQLITE, b->rounds));
        else
            fprintf(f, ",");
        if (runs(b, rw, IMPL_PG) && runs(b, rw, IMPL_PGRAW))
            fprintf(f, ",%.4f", time_ratio(rw, IMPL_PG, IMPL_PGRAW, b->rounds));
        else
            fprintf(f, ",");
        for (int im = 0; im < NIMPL; im++) {
            double lo = 1e300, hi = 0;
            if (!runs(b, rw, (enum impl)im)) {
                fprintf(f, ",,");
                continue;
            }
            for (unsigned r = 0; r < b->rounds; r++) {
                lo = rw->rate[im][r] < lo ? rw->rate[im][r] : lo;
                hi = rw->rate[im][r] > hi ? rw->rate[im][r] : hi;
            }
            fprintf(f, ",%.1f,%.1f", lo, hi);
        }
        for (int im = 0; im < NIMPL; im++)
            fprintf(f, ",%ld", rw->rss_kib[im]);
        for (int im = 0; im < NIMPL; im++)
            fprintf(f, ",%" PRIu64, rw->least[im]);
        fprintf(f, "\n");
    }
    rc = ferror(f);
    if (fclose(f) != 0 || rc) {
        fprintf(stderr, "%s: %s: write failed\n", PROG, b->csv);
        return 1;
    }
    return 0;
}

static int in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, path, prog);
        if (n > 0 && access(buf, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

/* Writes s as a single-quoted gnuplot string (a quote is doubled). */
static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static int write_plot(const struct bench *b)
{
    char date[32], mach[256];
    time_t t = time(NULL);
    size_t shown = 0;
    FILE *f;
    int st;

    if (!in_path("gnuplot")) {
        fprintf(stderr, "%s: note: gnuplot is not installed, no plot written (tools/deps.sh bench installs it)\n",
                PROG);
        return 0;
    }
    for (size_t i = 0; i < b->nrows; i++)
        shown += b->rows[i].done;
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&t));
    machine_line(mach, sizeof mach);
    f = popen("gnuplot", "w");
    if (!f) {
        fprintf(stderr, "%s: gnuplot: %s\n", PROG, strerror(errno));
        return 1;
    }
    fprintf(f, "set terminal pngcairo size %zu,720 noenhanced font ',10'\nset output ",
            shown < 10 ? (size_t)900 : 300 + 60 * shown);
    gp_quote(f, b->plot);
    /* A newline needs a double-quoted string; the machine's name goes in
     * single quotes, where nothing but a quote is special. */
    fprintf(f, "\nset title 'journal-bench %s: operations per second, median of %u rounds (log scale)' . \"\\n\" . ",
            date, b->rounds);
    gp_quote(f, mach);
    fprintf(f, "\nset rmargin 8\n");
    fprintf(f, "set style data histograms\nset style histogram clustered gap 1\n"
               "set style fill solid 0.85 border -1\nset logscale y\nset format y '%%.0s%%c'\nset grid ytics\n"
               "set ylabel 'records, gets or calls per second'\nset xtics rotate by -40 left nomirror\n"
               "set key outside top center horizontal\nset bmargin 9\nset datafile missing 'NaN'\n$d << EOD\n");
    for (size_t i = 0; i < b->nrows; i++) {
        const struct row *rw = &b->rows[i];
        if (!rw->done)
            continue;
        fprintf(f, "%s", rw->name);
        for (int im = 0; im < NIMPL; im++) {
            if (runs(b, rw, (enum impl)im))
                fprintf(f, " %.3f", median(rw->rate[im], b->rounds));
            else
                fprintf(f, " NaN");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "EOD\nplot $d using 2:xtic(1) title 'journal' lc rgb '#1f77b4', '' using 3 title 'lmdb (floor)' lc "
               "rgb '#7f7f7f', '' using 4 title 'sqlite' lc rgb '#ff7f0e'");
    if (b->impl_mask & IMPL_PGS)
        fprintf(f, ", '' using 5 title 'pg' lc rgb '#2ca02c', '' using 6 title 'pgraw (floor)' lc rgb '#98df8a'");
    fprintf(f, "\n");
    st = pclose(f);
    if (st != 0) {
        fprintf(stderr, "%s: gnuplot failed (status %d); no plot written to %s\n", PROG, st, b->plot);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

/* ------------------------------------------------------------------------ */
/* --pg-shared: what the users of one PostgreSQL store meet                 */

/*
 * Scenarios of a store shared by processes and threads, pg against pgraw,
 * each measured in child processes of its own (one per process of the
 * scenario), rounds alternating which goes first. The hand-written side
 * does the least equivalent correct work: its own connection per thread,
 * one LISTEN that stays for the whole run and a notification in every
 * append for the wait, the same lock-then-read truncation step.
 */

#define PX_ROWS 16

static int px_mode; /* --pg-shared */
#define PX_WAITS 200

struct px_row {
    char name[40];
    const char *unit; /* "ops/s", or "ms" for the latencies */
    double v[NIMPL][64];
    double p99[NIMPL][64];
    unsigned bad[NIMPL]; /* truncations that gave neither 0 nor EBEYOND */
};

/* What a child reports. */
struct px_res {
    int ok;
    uint64_t ops;
    int64_t t0, t1;
    unsigned bad;
};

static void px_url(const struct bench *b, const char *tag, enum impl im, char *buf, size_t n)
{
    snprintf(buf, n, "%s%cjournal_schema=bench_%ld_x%s_%s", b->pg_url, strchr(b->pg_url, '?') ? '&' : '?', b->pid, tag,
             impl_names[im]);
}

/* Runs fn(arg, idx, out) in n children; each writes one struct px_res to
 * the pipe. The children start their timed part together: each reports
 * ready (one byte), then waits for end of file on `go`. */
struct px_job {
    const struct bench *b;
    enum impl im;
    const char *url;
    unsigned n;   /* children */
    uint64_t ops; /* per child */
    uint64_t param;
    const char *jname; /* the journal the scenario uses */
    int ack[2];        /* the wait scenario's pipe from waiter to appender */
    int times;         /* the pipe its children send their timestamps on */
};

static int px_open(struct px_job *j, struct bstore *st, struct bjournal *h, const char *name, enum dur dur);
static void px_close(struct bstore *st, struct bjournal *h);

static int px_gated; /* in a child: it passed px_gate() */

static int px_gate(int ready, int go)
{
    char c = 'r';
    px_gated = 1;
    if (write_all(ready, &c, 1) != 0)
        return fail("ready pipe: %s", strerror(errno));
    read_all(go, &c, 1); /* end of file: go */
    return 0;
}

static int px_fork(struct px_job *j, int (*fn)(struct px_job *, unsigned, int, int, struct px_res *),
                   struct px_res *out)
{
    int ready[2], go[2], res[2], rc = 0;
    pid_t pid[MAX_THREADS];
    unsigned started = 0;
    char c;
    /* The journal is made first, by one child: creators racing on a name
     * are the library's business, not the floor's. */
    fflush(NULL);
    pid[0] = fork();
    if (pid[0] == 0) {
        struct bstore st;
        struct bjournal h;
        int setup = px_open(j, &st, &h, j->jname, DUR_NONE);
        if (setup != 0)
            fprintf(stderr, "%s: %s\n", PROG, err_msg);
        px_close(&st, &h);
        _exit(setup == 0 ? 0 : 1);
    }
    if (pid[0] < 0 || waitpid(pid[0], &rc, 0) < 0 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
        return fail("the setup of a scenario failed");
    rc = 0;
    if (pipe(ready) != 0 || pipe(go) != 0 || pipe(res) != 0)
        return fail("pipe: %s", strerror(errno));
    for (unsigned i = 0; i < j->n; i++) {
        pid[i] = fork();
        if (pid[i] < 0) {
            rc = fail("fork: %s", strerror(errno));
            break;
        }
        if (pid[i] == 0) {
            struct px_res r = {0};
            close(ready[0]);
            close(go[1]);
            close(res[0]);
            r.ok = fn(j, i, ready[1], go[0], &r) == 0;
            if (!r.ok)
                fprintf(stderr, "%s: %s\n", PROG, err_msg);
            if (!px_gated)
                write_all(ready[1], "f", 1); /* so that the parent does not wait */
            write_all(res[1], &r, sizeof r);
            _exit(r.ok ? 0 : 1);
        }
        started++;
    }
    close(ready[1]);
    close(go[0]);
    close(res[1]);
    for (unsigned i = 0; i < started; i++)
        if ((read_all(ready[0], &c, 1) != 1 || c != 'r') && rc == 0)
            rc = fail("a child of the scenario failed before it was ready");
    close(go[1]);
    memset(out, 0, sizeof *out);
    out->t0 = INT64_MAX;
    for (unsigned i = 0; i < started; i++) {
        struct px_res r;
        if (read_all(res[0], &r, sizeof r) != sizeof r || !r.ok) {
            if (rc == 0)
                rc = fail("a child of the scenario failed");
            continue;
        }
        out->ops += r.ops;
        out->bad += r.bad;
        out->t0 = r.t0 < out->t0 ? r.t0 : out->t0;
        out->t1 = r.t1 > out->t1 ? r.t1 : out->t1;
    }
    for (unsigned i = 0; i < started; i++)
        waitpid(pid[i], NULL, 0);
    close(ready[0]);
    close(res[0]);
    out->ok = rc == 0;
    return rc;
}

/* The hand-written truncation step (lib/pg.c does the same): lock the
 * row, then delete and move begin in statements that see every append
 * committed before the lock. 1: done, 0: not yet at `to`, JOURNAL_EBEYOND. */
static int pr_truncate(struct bjournal *h, journal_pos to)
{
    char sql[1024];
    PGresult *r, *first = NULL;
    int rc = 0;
    snprintf(sql, sizeof sql,
             "SELECT begin_pos, end_pos FROM %1$s.journals WHERE id = %2$" PRIu64 " FOR UPDATE; "
             "DELETE FROM %1$s.records WHERE journal = %2$" PRIu64
             " AND pos >= (SELECT begin_pos FROM %1$s.journals WHERE id = %2$" PRIu64 ") "
             "AND pos < (SELECT least(%3$" PRIu64 ", begin_pos + 8192) FROM %1$s.journals WHERE id = %2$" PRIu64
             " AND %3$" PRIu64 " <= end_pos); "
             "UPDATE %1$s.journals SET begin_pos = least(%3$" PRIu64 ", begin_pos + 8192) WHERE id = %2$" PRIu64
             " AND %3$" PRIu64 " > begin_pos AND %3$" PRIu64 " <= end_pos",
             h->st->qschema, h->id, to);
    if (!PQsendQuery(h->pg, sql))
        return pq_fail("pgraw", "truncate", PQerrorMessage(h->pg));
    while ((r = PQgetResult(h->pg)) != NULL) {
        if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK && rc == 0)
            rc = pq_fail("pgraw", "truncate", PQresultErrorMessage(r));
        if (!first && PQresultStatus(r) == PGRES_TUPLES_OK)
            first = r;
        else
            PQclear(r);
    }
    if (rc == 0 && first && PQntuples(first) == 1) {
        uint64_t b = strtoull(PQgetvalue(first, 0, 0), NULL, 10), e = strtoull(PQgetvalue(first, 0, 1), NULL, 10);
        rc = to > e ? JOURNAL_EBEYOND : to <= b + 8192 ? 1 : 0;
    } else if (rc == 0) {
        rc = fail("pgraw: truncate: no catalog row");
    }
    PQclear(first);
    return rc;
}

/* 0 or JOURNAL_EBEYOND; anything else is BENCH_FAIL or counted bad. */
static int px_truncate(struct bjournal *h, journal_pos to, unsigned *bad)
{
    int rc;
    if (h->st->impl == IMPL_PG) {
        rc = journal_truncate(h->j, to);
        if (rc != 0 && rc != JOURNAL_EBEYOND && bad) {
            ++*bad;
            rc = 0;
        }
        return rc == 0 || rc == JOURNAL_EBEYOND ? rc : lib_fail(h->st->js, "journal_truncate", rc);
    }
    while ((rc = pr_truncate(h, to)) == 0)
        ;
    return rc == 1 ? 0 : rc;
}

static int px_open(struct px_job *j, struct bstore *st, struct bjournal *h, const char *name, enum dur dur)
{
    int rc = b_store_open(st, j->im, j->url, dur);
    if (rc == 0)
        rc = b_journal_open(h, st, name, 1);
    return rc;
}

static void px_close(struct bstore *st, struct bjournal *h)
{
    b_journal_close(h);
    b_store_close(st);
}

/* Connect and open: a store handle, a journal, its bounds, closed again;
 * by hand a connection and one select of the journal's row. */
static int px_connect_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    char sql[256];
    int rc = px_open(j, &st, &h, "c", DUR_NONE);
    (void)idx;
    snprintf(sql, sizeof sql, "SELECT id, begin_pos, end_pos FROM %s.journals WHERE name = 'c'::bytea", st.qschema);
    b_journal_close(&h);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++) {
        journal_pos b, e;
        if (j->im == IMPL_PGRAW) {
            PGconn *pg = pq_connect("pgraw", st.conninfo);
            PGresult *res = NULL;
            rc = pg ? pr_check(pg, PQexec(pg, sql), PGRES_TUPLES_OK, "SELECT", &res) : BENCH_FAIL;
            if (rc == 0 && PQntuples(res) != 1)
                rc = fail("pgraw: no journal c");
            PQclear(res);
            PQfinish(pg);
            continue;
        }
        b_store_close(&st);
        rc = px_open(j, &st, &h, "c", DUR_NONE);
        if (rc == 0)
            rc = b_bounds(&h, &b, &e);
        b_journal_close(&h);
    }
    r->t1 = now_ns();
    r->ops = j->ops;
    b_store_close(&st);
    return rc;
}

/* Appends from several processes to one journal, each with its own
 * connections, durably, retrying at the new end after a conflict. */
static int px_append_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    int rc = px_open(j, &st, &h, "shared", DUR_SYNC);
    (void)idx;
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++)
        rc = b_append_retry(&h, j->b->batch);
    r->t1 = now_ns();
    r->ops = j->ops;
    px_close(&st, &h);
    return rc;
}

/* Truncation: a journal of ops * param records, cut param at a time. */
static int px_trunc_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    journal_pos b = 0, e = 0;
    int rc = px_open(j, &st, &h, "t", DUR_NOSYNC);
    (void)idx;
    for (uint64_t done = 0; done < j->ops * j->param && rc == 0; done += FILL_BATCH)
        rc = b_append(&h, j->b->batch, FILL_BATCH);
    if (rc == 0)
        rc = b_bounds(&h, &b, &e);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 1; i <= j->ops && rc == 0; i++)
        rc = px_truncate(&h, b + i * j->param, NULL);
    r->t1 = now_ns();
    r->ops = j->ops;
    px_close(&st, &h);
    return rc;
}

/* Truncation racing appends: child 0 truncates to the end it just read,
 * or one past it, ops times; the others append. */
static int px_race_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    int rc = px_open(j, &st, &h, "race", DUR_NOSYNC);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++) {
        journal_pos b, e;
        if (idx > 0) {
            rc = b_append_retry(&h, j->b->batch);
            continue;
        }
        rc = b_bounds(&h, &b, &e);
        if (rc == 0)
            rc = px_truncate(&h, e + (i % 2), &r->bad);
        if (rc == JOURNAL_EBEYOND)
            rc = 0;
    }
    r->t1 = now_ns();
    r->ops = idx == 0 ? j->ops : 0;
    if (idx > 0)
        r->t0 = INT64_MAX, r->t1 = 0; /* the rate is the truncator's */
    px_close(&st, &h);
    return rc;
}

/* journal_wait() latency from another process: child 0 waits for each
 * position in turn and sends its wake-up time; child 1 appends, sending
 * the time it started each append, then waits for the waiter's ack and a
 * little more, so that the waiter is asleep when the next append comes. */
static int px_wait_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    PGconn *lis = NULL;
    char sql[1024], c = 'a';
    int64_t t;
    journal_pos e0 = 0, b0;
    int rc = px_open(j, &st, &h, "w", DUR_NOSYNC);
    if (rc == 0)
        rc = b_bounds(&h, &b0, &e0);
    if (rc == 0 && idx == 0 && j->im == IMPL_PGRAW) {
        if (!(lis = pq_connect("pgraw", st.conninfo)))
            rc = BENCH_FAIL;
        snprintf(sql, sizeof sql, "LISTEN px_%s", st.qschema + 1);
        sql[strlen(sql) - 1] = '\0';
        if (rc == 0)
            rc = pr_check(lis, PQexec(lis, sql), PGRES_COMMAND_OK, "LISTEN", NULL);
    }
    if (rc == 0 && idx == 1 && j->im == IMPL_PGRAW) {
        snprintf(sql, sizeof sql,
                 "WITH u AS (UPDATE %1$s.journals SET end_pos = end_pos + 1 WHERE id = $1 AND end_pos = $2 "
                 "RETURNING id, end_pos), i AS (INSERT INTO %1$s.records (journal, pos, data) SELECT id, $2, $3 "
                 "FROM u) SELECT pg_notify('px_%2$.*3$s', end_pos::text) FROM u",
                 st.qschema, st.qschema + 1, (int)strlen(st.qschema) - 2);
        rc = pr_check(h.pg, PQprepare(h.pg, "pxn", sql, 3, (const Oid[]){OID_INT8, OID_INT8, OID_BYTEA}),
                      PGRES_COMMAND_OK, "PREPARE", NULL);
    }
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++) {
        journal_pos pos = e0 + i;
        if (idx == 1) {
            t = now_ns();
            if (j->im == IMPL_PG) {
                rc = journal_append(h.j, pos, j->b->rec, j->b->size);
                if (rc != 0)
                    rc = lib_fail(st.js, "journal_append", rc);
            } else {
                char idb[8], posb[8];
                const char *vals[3] = {idb, posb, (const char *)j->b->rec};
                int lens[3] = {8, 8, (int)j->b->size}, fmts[3] = {1, 1, 1};
                pr_put64(idb, h.id);
                pr_put64(posb, pos);
                rc = pr_check(h.pg, PQexecPrepared(h.pg, "pxn", 3, vals, lens, fmts, 1), PGRES_TUPLES_OK, "append",
                              NULL);
            }
            if (rc == 0 && write_all(j->times, &t, sizeof t) != 0)
                rc = fail("times pipe: %s", strerror(errno));
            if (rc == 0 && read_all(j->ack[0], &c, 1) != 1)
                rc = fail("the waiter is gone");
            usleep(2000);
            continue;
        }
        if (j->im == IMPL_PG) {
            rc = journal_wait(h.j, pos, 10000);
            if (rc != 0)
                rc = lib_fail(st.js, "journal_wait", rc);
        } else {
            journal_pos end = 0;
            while (rc == 0 && end <= pos) {
                struct pollfd p = {.fd = PQsocket(lis), .events = POLLIN};
                PGnotify *n;
                while ((n = PQnotifies(lis)) != NULL) {
                    journal_pos ne = strtoull(n->extra, NULL, 10);
                    end = ne > end ? ne : end;
                    PQfreemem(n);
                }
                if (end > pos)
                    break;
                if (poll(&p, 1, 10000) <= 0 || !PQconsumeInput(lis))
                    rc = fail("pgraw: no notification came");
            }
        }
        t = now_ns();
        if (rc == 0 && (write_all(j->times, &t, sizeof t) != 0 || write_all(j->ack[1], &c, 1) != 0))
            rc = fail("pipes: %s", strerror(errno));
    }
    r->t1 = now_ns();
    PQfinish(lis);
    px_close(&st, &h);
    return rc;
}

/* Threads of one process doing copying gets of a 1,000-record journal: on
 * pg they share one store handle (its pool), on pgraw each has its own
 * connection. */
struct px_thread {
    struct px_job *j;
    struct bstore *st;
    struct gate *gate;
    unsigned idx;
    int64_t t0, t1;
    int rc;
};

static void *px_thread_main(void *arg)
{
    struct px_thread *t = arg;
    struct bjournal h;
    uint64_t seed = 0x9e3779b97f4a7c15ull * (t->idx + 1);
    int state;
    t->rc = b_journal_open(&h, t->st, "g", 1);
    pthread_mutex_lock(&t->gate->mu);
    t->gate->ready++;
    pthread_cond_broadcast(&t->gate->cv);
    while ((state = t->gate->state) == 0)
        pthread_cond_wait(&t->gate->cv, &t->gate->mu);
    pthread_mutex_unlock(&t->gate->mu);
    t->t0 = now_ns();
    for (uint64_t i = 0; i < t->j->ops && t->rc == 0 && state > 0; i++) {
        void *rec;
        size_t len;
        t->rc = b_get(&h, rnd_next(&seed) % 1000, &rec, &len);
        if (t->rc == 0)
            free(rec);
    }
    t->t1 = now_ns();
    b_journal_close(&h);
    return NULL;
}

static int px_threads_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    struct px_thread t[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    unsigned n = (unsigned)j->param, started = 0;
    journal_pos b, e;
    int rc = px_open(j, &st, &h, "g", DUR_NONE);
    (void)idx;
    if (rc == 0)
        rc = b_bounds(&h, &b, &e);
    for (journal_pos p = e; p < 1000 && rc == 0; p += FILL_BATCH)
        rc = b_append(&h, j->b->batch, FILL_BATCH);
    b_journal_close(&h);
    if (rc == 0)
        rc = px_gate(ready, go);
    for (unsigned i = 0; i < n && rc == 0; i++) {
        t[i] = (struct px_thread){.j = j, .st = &st, .gate = &gate, .idx = i};
        if (pthread_create(&tid[i], NULL, px_thread_main, &t[i]) != 0)
            rc = fail("pthread_create failed");
        else
            started++;
    }
    pthread_mutex_lock(&gate.mu);
    while (gate.ready < started)
        pthread_cond_wait(&gate.cv, &gate.mu);
    gate.state = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    r->t0 = INT64_MAX;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        if (t[i].rc != 0 && rc == 0)
            rc = t[i].rc;
        r->t0 = t[i].t0 < r->t0 ? t[i].t0 : r->t0;
        r->t1 = t[i].t1 > r->t1 ? t[i].t1 : r->t1;
    }
    r->ops = (uint64_t)started * j->ops;
    b_store_close(&st);
    return rc;
}

/* A snapshot begun, its bounds read, one get, ended (param 0); or renewed
 * and one get (param 1). By hand: BEGIN REPEATABLE READ, the bounds, the
 * get, ROLLBACK. */
static int px_snap_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    journal_pos b, e;
    const void *rec;
    size_t len;
    int rc = px_open(j, &st, &h, "g", DUR_NONE);
    (void)idx;
    if (rc == 0)
        rc = b_bounds(&h, &b, &e);
    for (journal_pos p = e; p < 1000 && rc == 0; p += FILL_BATCH)
        rc = b_append(&h, j->b->batch, FILL_BATCH);
    if (rc == 0 && j->param == 1)
        rc = b_snap_begin(&h);
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++) {
        if (j->param == 0) {
            rc = b_snap_begin(&h);
        } else if (j->im == IMPL_PG) {
            rc = journal_snapshot_renew(h.snap);
            if (rc != 0)
                rc = lib_fail(st.js, "journal_snapshot_renew", rc);
        } else {
            PQclear(h.snapres);
            h.snapres = NULL;
            rc = pr_check(h.pg, PQexec(h.pg, "ROLLBACK; BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                          PGRES_COMMAND_OK, "renew", NULL);
        }
        if (rc == 0 && j->im == IMPL_PGRAW)
            rc = pr_bounds(&h, &b, &e);
        if (rc == 0)
            rc = b_snap_get(&h, i % 1000, &rec, &len);
        if (rc == 0 && j->param == 0)
            rc = b_snap_end(&h);
    }
    r->t1 = now_ns();
    r->ops = j->ops;
    if (rc == 0 && j->param == 1)
        rc = b_snap_end(&h);
    px_close(&st, &h);
    return rc;
}

/* Records of param bytes: appended (ops of them), then each read back. */
static int px_large_child(struct px_job *j, unsigned idx, int ready, int go, struct px_res *r)
{
    struct bstore st;
    struct bjournal h;
    journal_record rec;
    journal_pos b, e;
    unsigned char *big = malloc(j->param);
    int rc = big ? px_open(j, &st, &h, "large", DUR_NOSYNC) : fail("out of memory");
    (void)idx;
    if (!big)
        return rc;
    memset(big, 0x5a, j->param);
    rec = (journal_record){big, j->param};
    if (rc == 0)
        rc = px_gate(ready, go);
    r->t0 = now_ns();
    for (uint64_t i = 0; i < j->ops && rc == 0; i++)
        rc = b_append(&h, &rec, 1);
    r->t1 = now_ns();
    r->ops = j->ops;
    /* The gets are timed by the parent from t1 on: reported as bad ns. */
    if (rc == 0)
        rc = b_bounds(&h, &b, &e);
    for (journal_pos p = e - j->ops; p < e && rc == 0; p++) {
        void *got;
        size_t len;
        rc = b_get(&h, p, &got, &len);
        if (rc == 0)
            free(got);
    }
    r->bad = (unsigned)((now_ns() - r->t1) / 1000); /* µs of the gets */
    px_close(&st, &h);
    free(big);
    return rc;
}

static struct px_row px_rows[PX_ROWS];
static unsigned px_nrows;

static struct px_row *px_row(const char *name, const char *unit)
{
    for (unsigned i = 0; i < px_nrows; i++)
        if (strcmp(px_rows[i].name, name) == 0)
            return &px_rows[i];
    snprintf(px_rows[px_nrows].name, sizeof px_rows[px_nrows].name, "%s", name);
    px_rows[px_nrows].unit = unit;
    return &px_rows[px_nrows++];
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, c = *(const int64_t *)y;
    return a < c ? -1 : a > c;
}

/* The wait scenario: its own pipes, latencies from the two children's
 * times. */
static int px_wait_round(struct px_job *j, unsigned round)
{
    int times[2], rc;
    struct px_res res;
    int64_t start[PX_WAITS], wake[PX_WAITS], lat[PX_WAITS];
    struct px_row *row = px_row("wait latency, 2 procs", "ms");
    if (pipe(times) != 0 || pipe(j->ack) != 0)
        return fail("pipe: %s", strerror(errno));
    j->times = times[1];
    j->n = 2;
    j->ops = PX_WAITS;
    /* The children's times come interleaved: the appender's start, then
     * the waiter's wake-up, per position, ordered by the ack. */
    {
        pid_t pid = fork();
        if (pid == 0) {
            close(times[0]);
            _exit(px_fork(j, px_wait_child, &res) == 0 ? 0 : 1);
        }
        close(times[1]);
        close(j->ack[0]);
        close(j->ack[1]);
        for (unsigned i = 0; i < PX_WAITS; i++) {
            if (read_all(times[0], &start[i], sizeof start[i]) != sizeof start[i] ||
                read_all(times[0], &wake[i], sizeof wake[i]) != sizeof wake[i])
                break;
            lat[i] = wake[i] - start[i];
        }
        close(times[0]);
        waitpid(pid, &rc, 0);
        if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 0)
            return fail("the wait scenario failed");
    }
    qsort(lat, PX_WAITS, sizeof lat[0], cmp_i64);
    row->v[j->im][round] = lat[PX_WAITS / 2] / 1e6;
    row->p99[j->im][round] = lat[PX_WAITS * 99 / 100] / 1e6;
    return 0;
}

static int px_measure(const struct bench *b, enum impl im, unsigned round)
{
    static const unsigned threads[] = {8, 16, 32, 64};
    char url[PATH_MAX + 96];
    struct px_job j = {.b = b, .im = im, .url = url};
    struct px_res r;
    int rc;
    double s;

#define PX_RATE(rowname)                                                                                               \
    do {                                                                                                               \
        s = (double)(r.t1 - r.t0) / 1e9;                                                                               \
        px_row(rowname, "ops/s")->v[im][round] = s > 0 ? (double)r.ops / s : 0;                                        \
    } while (0)

    px_url(b, "conn", im, url, sizeof url);
    j.jname = "c";
    j.n = 1, j.ops = b->quick ? 5 : 20;
    if ((rc = px_fork(&j, px_connect_child, &r)) != 0)
        return rc;
    PX_RATE("connect + open + bounds");

    px_url(b, "app", im, url, sizeof url);
    j.jname = "shared";
    j.n = 4, j.ops = b->quick ? 50 : 300;
    if ((rc = px_fork(&j, px_append_child, &r)) != 0)
        return rc;
    PX_RATE("append, 4 procs, durable");

    px_url(b, "trunc", im, url, sizeof url);
    j.jname = "t";
    j.n = 1, j.ops = b->quick ? 20 : 100, j.param = 100;
    if ((rc = px_fork(&j, px_trunc_child, &r)) != 0)
        return rc;
    PX_RATE("truncate 100 records");

    px_url(b, "race", im, url, sizeof url);
    j.jname = "race";
    j.n = 3, j.ops = b->quick ? 50 : 300, j.param = 0;
    if ((rc = px_fork(&j, px_race_child, &r)) != 0)
        return rc;
    PX_RATE("truncate racing 2 appenders");
    px_row("truncate racing 2 appenders", "ops/s")->bad[im] += r.bad;

    px_url(b, "wait", im, url, sizeof url);
    j.jname = "w";
    if ((rc = px_wait_round(&j, round)) != 0)
        return rc;

    px_url(b, "thr", im, url, sizeof url);
    j.jname = "g";
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        char name[40];
        j.n = 1, j.param = threads[t], j.ops = (b->quick ? 2000 : 16000) / threads[t];
        if ((rc = px_fork(&j, px_threads_child, &r)) != 0)
            return rc;
        snprintf(name, sizeof name, "get, %u threads", threads[t]);
        PX_RATE(name);
    }

    px_url(b, "snap", im, url, sizeof url);
    j.jname = "g";
    for (int renew = 0; renew < 2; renew++) {
        j.n = 1, j.param = (uint64_t)renew, j.ops = b->quick ? 200 : 2000;
        if ((rc = px_fork(&j, px_snap_child, &r)) != 0)
            return rc;
        PX_RATE(renew ? "snapshot renew + get" : "snapshot begin+get+end");
    }

    px_url(b, "large", im, url, sizeof url);
    j.jname = "large";
    j.n = 1, j.param = 1u << 20, j.ops = b->quick ? 5 : 30;
    if ((rc = px_fork(&j, px_large_child, &r)) != 0)
        return rc;
    PX_RATE("append 1 MiB, no-sync");
    px_row("get 1 MiB", "ops/s")->v[im][round] = r.bad > 0 ? (double)r.ops / (r.bad / 1e6) : 0;
#undef PX_RATE
    return 0;
}

/* Runs the scenarios b->rounds times, alternating which implementation
 * goes first, and prints the medians. */
static int px_run(const struct bench *b)
{
    unsigned rounds = b->rounds < 64 ? b->rounds : 64;
    for (unsigned round = 0; round < rounds && !stop_signal; round++) {
        for (int k = 0; k < 2; k++) {
            enum impl im = (round + (unsigned)k) % 2 ? IMPL_PGRAW : IMPL_PG;
            int rc;
            progress(0, "pg-shared: round %u/%u, %s", round + 1, rounds, impl_names[im]);
            if ((rc = px_measure(b, im, round)) != 0) {
                fprintf(stderr, "%s: %s\n", PROG, err_msg);
                return 1;
            }
        }
    }
    printf("PostgreSQL %s, shared-store scenarios, median of %u rounds (pg/pgraw: time ratio, above 1 is slower)\n",
           b->pg_version, rounds);
    printf("%-30s %-6s %12s %12s %8s %s\n", "scenario", "unit", "pg", "pgraw", "pg/pgraw", "");
    for (unsigned i = 0; i < px_nrows; i++) {
        struct px_row *w = &px_rows[i];
        double pg = median(w->v[IMPL_PG], rounds), raw = median(w->v[IMPL_PGRAW], rounds);
        int ms = strcmp(w->unit, "ms") == 0;
        double ratio = ms ? pg / raw : raw / pg;
        char extra[96] = "";
        if (ms)
            snprintf(extra, sizeof extra, "p99 %.2f / %.2f ms", median(w->p99[IMPL_PG], rounds),
                     median(w->p99[IMPL_PGRAW], rounds));
        else if (strstr(w->name, "racing"))
            snprintf(extra, sizeof extra, "neither 0 nor EBEYOND: %u / %u", w->bad[IMPL_PG], w->bad[IMPL_PGRAW]);
        printf("%-30s %-6s %12.*f %12.*f %7.2fx %s\n", w->name, w->unit, ms ? 2 : 0, pg, ms ? 2 : 0, raw, ratio, extra);
    }
    return 0;
}

static const char *const group_names[] = {NULL,    "append", "nosync",  "batch",   "get",   "snapget",
                                          "range", "bounds", "threads", "readers", "scale", "layouts"};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [OPTION]...\n"
            "Measure libjournal against raw LMDB (its floor) and SQLite (the alternative),\n"
            "and given a server its PostgreSQL backend against hand-written SQL (pgraw),\n"
            "alternating them round by round; print medians and time ratios.\n\n"
            "  -s, --scenario=LIST   scenarios to run, by number or name (default: all):\n"
            "                        1 append, 2 nosync, 3 batch, 4 get, 5 snapget, 6 range,\n"
            "                        7 bounds, 8 threads, 9 readers, 10 scale, 11 layouts\n"
            "                        (--quick leaves out 11 unless it is named)\n"
            "  -i, --impl=LIST       implementations: journal,lmdb,sqlite,pg,pgraw (default:\n"
            "                        the first three, and pg,pgraw when a server is given)\n"
            "      --pg-url=URL      the PostgreSQL server of pg and pgraw, a postgresql://\n"
            "                        URL (default: $JOURNAL_BENCH_PG_URL); each store is a\n"
            "                        schema bench_PID_N, dropped when done\n"
            "      --pg-shared       instead of the table, the scenarios of a shared\n"
            "                        PostgreSQL store (processes appending to one journal,\n"
            "                        truncation, waits, threads beyond the pool, snapshot\n"
            "                        begin/renew, 1 MiB records, connecting), pg and pgraw\n"
            "                        (durable appends: give a server with fsync on, e.g.\n"
            "                        JOURNAL_TEST_PG_FSYNC=on tools/pg-server.sh start DIR)\n"
            "  -d, --dir=DIR         where the stores go (default: $TMPDIR or /tmp), in a\n"
            "                        directory of this run that is removed at exit\n"
            "  -k, --keep            keep the stores (and print where they are)\n"
            "  -c, --csv=FILE        also write the results as CSV\n"
            "  -p, --plot=FILE       also draw ops/s per scenario as a PNG (needs gnuplot)\n"
            "  -q, --quick           tiny counts, for a test that the program works\n"
            "  -r, --rounds=N        rounds per scenario (default 7)\n"
            "      --size=BYTES      record size (default 100)\n"
            "      --appends=N       appends per round, one per call (default 300)\n"
            "      --batches=N       batches per round (default 20)\n"
            "      --batch-size=N    records per batch (default 1000)\n"
            "      --reads=N         gets or bounds calls per round and process (default 100000)\n"
            "      --records=N       records of the journal the reads use (default 1e5)\n"
            "      --passes=N        range passes over that journal per round (default 5)\n"
            "      --threads=LIST    thread counts for scenario 8 (default 1,2,4,8)\n"
            "      --procs=LIST      process counts for scenario 9 (default 1,2)\n"
            "      --scale=LIST      journal sizes for scenario 10 (default 1e3,1e5,1e6)\n"
            "      --journals=N      journals in the large store of scenario 10 (default 1e4)\n"
            "      --seed=N          seed of the random positions (default 1)\n"
            "      --clock=wall|cpu  time rows of one thread by the wall clock (default) or\n"
            "                        by the process's CPU time, which other load disturbs\n"
            "                        less but which leaves out waits for the disk\n"
            "  -t, --time=SECONDS    stop a measurement after this long, short of its\n"
            "                        count; 0: never (default 0.15)\n"
            "  -h, --help            print this help and exit\n"
            "  -V, --version         print the versions and exit\n\n"
            "Counts take digits or 1eN. Exit status: 0 on success, 1 on failure, 2 on bad usage.\n",
            PROG);
}

static int bad_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", PROG);
    return 2;
}

/* A count of at least 1: digits, or 1eN. */
static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    uint64_t v;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    if (*end == 'e' || *end == 'E') {
        char *e2;
        unsigned long e = strtoul(end + 1, &e2, 10);
        if (e2 == end + 1 || *e2 || e > 19)
            return -1;
        for (; e > 0; e--) {
            if (v > UINT64_MAX / 10)
                return -1;
            v *= 10;
        }
        end = e2;
    }
    if (*end || v < 1 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_list(const char *opt, const char *arg, uint64_t max, uint64_t *vals, unsigned *n)
{
    char buf[256], *save = NULL, *tok;
    snprintf(buf, sizeof buf, "%s", arg);
    *n = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (*n == MAX_LIST)
            return bad_usage("%s: at most %d values", opt, MAX_LIST);
        if (parse_count(tok, max, &vals[(*n)++]) != 0)
            return bad_usage("%s: '%s' is not a count (1 to %" PRIu64 ")", opt, tok, max);
    }
    return *n ? 0 : bad_usage("%s: an empty list", opt);
}

static int parse_names(const char *opt, const char *arg, const char *const *names, unsigned first, unsigned count,
                       unsigned *mask)
{
    char buf[256], *save = NULL, *tok;
    snprintf(buf, sizeof buf, "%s", arg);
    *mask = 0;
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned k, found = 0;
        for (k = first; k < first + count; k++) {
            char num[8];
            snprintf(num, sizeof num, "%u", k);
            if (strcmp(tok, names[k]) == 0 || (first > 0 && strcmp(tok, num) == 0)) {
                *mask |= 1u << k;
                found = 1;
            }
        }
        if (!found)
            return bad_usage("%s: unknown '%s'", opt, tok);
    }
    return *mask ? 0 : bad_usage("%s: an empty list", opt);
}

static uint64_t pick(uint64_t given, int quick, uint64_t q, uint64_t full)
{
    return given ? given : quick ? q : full;
}

static int parse_args(struct bench *b, int argc, char **argv)
{
    enum {
        O_SIZE = 256,
        O_APPENDS,
        O_BATCHES,
        O_BATCH_SIZE,
        O_READS,
        O_RECORDS,
        O_PASSES,
        O_THREADS,
        O_PROCS,
        O_SCALE,
        O_JOURNALS,
        O_SEED,
        O_CLOCK,
        O_PG_URL,
        O_PG_SHARED
    };
    static const struct option longopts[] = {{"scenario", required_argument, NULL, 's'},
                                             {"impl", required_argument, NULL, 'i'},
                                             {"dir", required_argument, NULL, 'd'},
                                             {"keep", no_argument, NULL, 'k'},
                                             {"csv", required_argument, NULL, 'c'},
                                             {"plot", required_argument, NULL, 'p'},
                                             {"quick", no_argument, NULL, 'q'},
                                             {"rounds", required_argument, NULL, 'r'},
                                             {"size", required_argument, NULL, O_SIZE},
                                             {"appends", required_argument, NULL, O_APPENDS},
                                             {"batches", required_argument, NULL, O_BATCHES},
                                             {"batch-size", required_argument, NULL, O_BATCH_SIZE},
                                             {"reads", required_argument, NULL, O_READS},
                                             {"records", required_argument, NULL, O_RECORDS},
                                             {"passes", required_argument, NULL, O_PASSES},
                                             {"threads", required_argument, NULL, O_THREADS},
                                             {"procs", required_argument, NULL, O_PROCS},
                                             {"scale", required_argument, NULL, O_SCALE},
                                             {"journals", required_argument, NULL, O_JOURNALS},
                                             {"seed", required_argument, NULL, O_SEED},
                                             {"time", required_argument, NULL, 't'},
                                             {"clock", required_argument, NULL, O_CLOCK},
                                             {"pg-url", required_argument, NULL, O_PG_URL},
                                             {"pg-shared", no_argument, NULL, O_PG_SHARED},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {NULL, 0, NULL, 0}};
    /* Counts given on the command line; 0 where the default applies. */
    uint64_t rounds = 0, size = 0, appends = 0, batches = 0, batch_size = 0, reads = 0, records = 0, passes = 0,
             journals = 0, seed = 0, list[MAX_LIST];
    int c, rc, li, time_set = 0, impl_set = 0;
    char opt[40];

    opterr = 0;
    b->groups = 0;
    b->impl_mask = IMPL_DEFAULT;
    while ((li = -1, c = getopt_long(argc, argv, ":s:i:d:kc:p:qr:t:hV", longopts, &li)) != -1) {
        uint64_t *count = NULL, max = UINT32_MAX;
        if (li >= 0)
            snprintf(opt, sizeof opt, "--%s", longopts[li].name);
        else
            snprintf(opt, sizeof opt, "-%c", c);
        switch (c) {
        case 's':
            if ((rc = parse_names("--scenario", optarg, group_names, 1, 11, &b->groups)) != 0)
                return rc;
            break;
        case 'i':
            if ((rc = parse_names("--impl", optarg, impl_names, 0, NIMPL, &b->impl_mask)) != 0)
                return rc;
            impl_set = 1;
            break;
        case O_PG_URL:
            b->pg_url = optarg;
            break;
        case O_PG_SHARED:
            px_mode = 1;
            break;
        case 'd':
            b->dir = optarg;
            break;
        case 'k':
            b->keep = 1;
            break;
        case 'c':
            b->csv = optarg;
            break;
        case 'p':
            b->plot = optarg;
            break;
        case 'q':
            b->quick = 1;
            break;
        case 'r':
            count = &rounds;
            max = 64;
            break;
        case O_SIZE:
            count = &size;
            max = 1u << 30;
            break;
        case O_APPENDS:
            count = &appends;
            break;
        case O_BATCHES:
            count = &batches;
            break;
        case O_BATCH_SIZE:
            count = &batch_size;
            max = 1000000;
            break;
        case O_READS:
            count = &reads;
            break;
        case O_RECORDS:
            count = &records;
            max = UINT64_MAX / 2;
            break;
        case O_PASSES:
            count = &passes;
            break;
        case O_JOURNALS:
            count = &journals;
            max = 1000000000;
            break;
        case O_SEED:
            count = &seed;
            max = UINT64_MAX;
            break;
        case 't': {
            char *end;
            double t;
            errno = 0;
            t = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(t >= 0 && t <= 3600))
                return bad_usage("--time: '%s' is not a number of seconds (0 to 3600)", optarg);
            time_set = 1;
            b->max_ns = (int64_t)(t * 1e9);
            break;
        }
        case O_CLOCK:
            if (strcmp(optarg, "wall") != 0 && strcmp(optarg, "cpu") != 0)
                return bad_usage("--clock: '%s' is not wall or cpu", optarg);
            b->cpu_clock = strcmp(optarg, "cpu") == 0;
            break;
        case O_THREADS:
        case O_PROCS:
            if ((rc = parse_list(c == O_THREADS ? "--threads" : "--procs", optarg, MAX_THREADS, list,
                                 c == O_THREADS ? &b->nthreads : &b->nprocs)) != 0)
                return rc;
            for (unsigned i = 0; i < (c == O_THREADS ? b->nthreads : b->nprocs); i++)
                (c == O_THREADS ? b->threads : b->procs)[i] = (unsigned)list[i];
            break;
        case O_SCALE:
            if ((rc = parse_list("--scale", optarg, UINT64_MAX / 2, b->scale, &b->nscale)) != 0)
                return rc;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V': {
            int mv, mn, mp;
            char pqv[32];
            mdb_version(&mv, &mn, &mp);
            printf("%s %s (libjournal %s, LMDB %d.%d.%d, SQLite %s, libpq %s)\n", PROG, JOURNAL_VERSION_STRING,
                   journal_version(), mv, mn, mp, sqlite3_libversion(), pq_version(pqv, sizeof pqv));
            return -1;
        }
        case ':':
            return bad_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option '%s'", argv[optind - 1]);
        }
        if (count && parse_count(optarg, max, count) != 0)
            return bad_usage("%s: '%s' is not a count (1 to %" PRIu64 ")", opt, optarg, max);
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    if (!b->pg_url) {
        const char *env = getenv("JOURNAL_BENCH_PG_URL");
        b->pg_url = env && *env ? env : NULL;
    }
    if (b->pg_url) {
        if (strncmp(b->pg_url, "postgresql://", 13) != 0 && strncmp(b->pg_url, "postgres://", 11) != 0)
            return bad_usage("--pg-url: '%s' is not a postgresql:// URL", b->pg_url);
        if (strstr(b->pg_url, "journal_schema="))
            return bad_usage("--pg-url: journal_schema is the program's to choose (bench_PID_N)");
        if (strlen(b->pg_url) > PATH_MAX - 128)
            return bad_usage("--pg-url: the URL is too long");
        if (!impl_set)
            b->impl_mask |= IMPL_PGS;
    } else if (b->impl_mask & IMPL_PGS) {
        return bad_usage("--impl: pg and pgraw need a server: --pg-url=URL or JOURNAL_BENCH_PG_URL");
    } else if (px_mode) {
        return bad_usage("--pg-shared needs a server: --pg-url=URL or JOURNAL_BENCH_PG_URL");
    }
    if (px_mode)
        b->impl_mask = IMPL_PGS;
    if (!b->groups)
        b->groups = b->quick ? 0x7FEu : 0xFFEu;
    b->rounds = (unsigned)pick(rounds, b->quick, 2, 7);
    b->size = (size_t)pick(size, b->quick, 100, 100);
    b->appends = pick(appends, b->quick, 4, 300);
    b->batches = pick(batches, b->quick, 1, 20);
    b->batch_size = pick(batch_size, b->quick, 50, 1000);
    b->reads = pick(reads, b->quick, 200, 100000);
    b->records = pick(records, b->quick, 200, 100000);
    b->passes = pick(passes, b->quick, 1, 5);
    b->journals = pick(journals, b->quick, 20, 10000);
    b->seed = pick(seed, 0, 1, 1);
    if (!time_set)
        b->max_ns = 150000000;
    if (!b->nthreads) {
        static const unsigned q[] = {1, 2}, full[] = {1, 2, 4, 8};
        b->nthreads = b->quick ? 2 : 4;
        memcpy(b->threads, b->quick ? q : full, b->nthreads * sizeof *q);
    }
    if (!b->nprocs) {
        b->nprocs = 2;
        b->procs[0] = 1;
        b->procs[1] = 2;
    }
    if (!b->nscale) {
        static const uint64_t q[] = {100}, full[] = {1000, 100000, 1000000};
        b->nscale = b->quick ? 1 : 3;
        memcpy(b->scale, b->quick ? q : full, b->nscale * sizeof *q);
    }
    if (!b->dir) {
        const char *t = getenv("TMPDIR");
        b->dir = t && *t ? t : "/tmp";
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct bench b;
    struct sigaction sa;
    struct outcome o;
    int rc;

    memset(&b, 0, sizeof b);
    rc = parse_args(&b, argc, argv);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    is_tty = isatty(2);
    b.rec = malloc(b.size ? b.size : 1);
    b.batch = calloc(b.batch_size > FILL_BATCH ? b.batch_size : FILL_BATCH, sizeof *b.batch);
    if (!b.rec || !b.batch || build_rows(&b) != 0) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        rc = 1;
        goto out_free;
    }
    for (size_t i = 0; i < b.size; i++)
        b.rec[i] = (unsigned char)(i * 131 + 7);
    for (size_t i = 0; i < (b.batch_size > FILL_BATCH ? b.batch_size : FILL_BATCH); i++)
        b.batch[i] = (journal_record){b.rec, b.size};

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (b.csv && !(b.csv_file = fopen(b.csv, "w"))) {
        fprintf(stderr, "%s: %s: %s\n", PROG, b.csv, strerror(errno));
        rc = 1;
        goto out_free;
    }
    if (strlen(b.dir) + 32 > sizeof b.root) {
        fprintf(stderr, "%s: %s: the path is too long\n", PROG, b.dir);
        rc = 1;
        goto out_free;
    }
    snprintf(b.root, sizeof b.root, "%s/journal-bench-XXXXXX", b.dir);
    if (!mkdtemp(b.root)) {
        fprintf(stderr, "%s: %s: %s\n", PROG, b.dir, strerror(errno));
        rc = 1;
        goto out_free;
    }
    if (run_child(&b, NULL, IMPL_JOURNAL, 0, JOB_NOTHING, &o, &b.base_rss_kib) != 0)
        b.base_rss_kib = 0;
    b.pid = (long)getpid();
    if ((b.impl_mask & IMPL_PGS) && pg_start(&b) != 0) {
        rc = 1;
        goto out_rm;
    }

    if (px_mode) {
        rc = px_run(&b);
        if (!b.keep && drop_schemas(&b, NULL) != 0)
            rc = 1;
        goto out_rm;
    }
    b.load[0] = load_average();
    rc = run_rows(&b);
    b.load[1] = load_average();
    /* Also after a failure or a signal: no schema of the run stays. */
    if ((b.impl_mask & IMPL_PGS) && !b.keep && drop_schemas(&b, NULL) != 0)
        rc = 1;
    if (rc == 0) {
        print_table(&b, stdout);
        if (b.keep)
            printf("- the stores are kept in %s\n", b.root);
        if (b.keep && (b.impl_mask & IMPL_PGS))
            printf("- the PostgreSQL stores are kept in the schemas bench_%ld_*\n", b.pid);
        if (fflush(stdout) != 0) {
            fprintf(stderr, "%s: standard output: %s\n", PROG, strerror(errno));
            rc = 1;
        }
    }
    if (rc == 0 && b.csv)
        rc = write_csv(&b);
    if (rc == 0 && b.plot)
        rc = write_plot(&b);
out_rm:
    if (!b.keep)
        rm_rf(b.root);
out_free:
    if (b.csv_file)
        fclose(b.csv_file);
    free_rows(&b);
    free(b.batch);
    free(b.rec);
    return rc;
}
