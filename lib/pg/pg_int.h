/*
 * pg_int.h - private to the PostgreSQL backend (the files of lib/pg/):
 * the structures behind its handles and the functions its files share.
 *
 * A store is one schema of a database, named by a postgresql:// or
 * postgres:// URL. Layout of a store's schema (created at open when
 * missing, schema.c):
 *   meta(key text, value text)            the row ('format', '1')
 *   journals(id, name bytea, begin_pos, end_pos)   one row per journal
 *   records(journal, pos, data bytea)     primary key (journal, pos)
 * The journals row is the journal's catalog entry: every write updates it
 * first, so its row lock orders the writers of one journal, and a writer
 * whose expected end no longer matches updates nothing (the optimistic
 * check and the write are one statement, sql.c).
 *
 * Connections (conn.c): a store keeps a pool of idle connections, as many
 * as calls ran at once (up to PG_IDLE_MAX); each call takes one
 * (connecting when the pool is empty, or when the pooled one died, e.g.
 * after a server restart) and gives it back. A snapshot and a running
 * journal_wait() hold one connection for their whole life. Every statement
 * is prepared once per connection.
 *
 * journal_wait() listens on a channel named after the schema while it
 * holds its journal's advisory lock for its session; an append notifies
 * the channel with the journal's id, in its own transaction, when that
 * lock is held (wait.c).
 *
 * Errors (error.c): the SQLSTATE of the server, the connection's state and
 * the system's errno decide the code, never words of a message.
 *
 * The files: open.c (URL, open, close, the table of ops), conn.c, error.c,
 * sql.c, schema.c, journal.c (a journal's calls), snapshot.c, wait.c,
 * store.c (the calls on the whole store), pq_load.[ch] (libpq, loaded at
 * the first open); none.c replaces all of them in a build without libpq.
 */
#ifndef JOURNAL_PG_INT_H
#define JOURNAL_PG_INT_H

#include <pthread.h>
#include <stdint.h>

#include "../internal.h"
#include "pq_load.h"

#define PG_SCHEMA_MAX 63 /* NAMEDATALEN - 1 */

/* Type OIDs of the parameters (pg_type.h is a server header). */
#define OID_INT8 20
#define OID_BYTEA 17
#define OID_TEXT 25
#define OID_BYTEA_ARRAY 1001

/* The prepared statements (sql.c), by index. */
enum pg_stmt { S_BOUNDS, S_GET, S_APPEND1, S_APPENDN, S_FIND, S_CREATE, S_RANGE, S_CHUNK, S_LIST, S_COUNT };

struct pg_stmt_def {
    const char *sql; /* a format: %1$s the quoted schema, %2$d its lock key */
    int nparams;
    Oid types[5];
};

extern const struct pg_stmt_def journal__pg_stmts[S_COUNT];

struct pg_conn {
    PGconn *pg;
    unsigned prepared;  /* bit k: statement k is prepared on this connection */
    int doomed;         /* the server announced it is closing the connection */
    int pending;        /* results of a query sent by journal_wait() are unread */
    int64_t idle_since; /* journal__pg_now_ms() when it went back to the pool */
    struct pg_conn *next;
};

struct pg_store {
    struct journal_store base;
    char *conninfo;                  /* the URL without journal_schema */
    char schema[PG_SCHEMA_MAX + 1];  /* also the notification channel */
    char qschema[PG_SCHEMA_MAX + 3]; /* double-quoted */
    int32_t lockkey;                 /* first half of its journals' advisory locks */
    char *sql[S_COUNT];              /* journal__pg_stmts for this schema */
    pthread_mutex_t mu;              /* guards idle, nidle */
    struct pg_conn *idle;
    unsigned nidle;
};

struct pg_journal {
    struct journal base;
    int64_t id;
};

static inline struct pg_store *pg_store_of(journal_store *s)
{
    return (struct pg_store *)s;
}

static inline int64_t pg_id(journal *j)
{
    return ((struct pg_journal *)j)->id;
}

/* Parameters and results travel in binary: int8 as 8 big-endian bytes. */
static inline void pg_put64(char *p, int64_t v)
{
    journal__put_be64((unsigned char *)p, (uint64_t)v);
}

static inline int64_t pg_get64(const PGresult *r, int row, int col)
{
    return (int64_t)journal__get_be64((const unsigned char *)PQgetvalue(r, row, col));
}

/* ---- open.c: the store */

/* Whether path is a postgresql:// or postgres:// URL. */
int journal__pg_is_url(const char *path);

/* Splits journal_schema=NAME off url into st (conninfo, schema, qschema);
 * -EINVAL, with the message given to `errs`, when NAME is not valid. */
int journal__pg_parse_url(struct pg_store *st, const char *url, const journal_store *errs);

/* ---- error.c: codes and messages */

/* Records the message of this thread's last failure, on s (NULL for an
 * open): "what: msg", or msg alone when what is "". */
void journal__pg_set_err(const journal_store *s, const char *what, const char *msg);
/* The message of this thread's last failure on s, or of its last failed
 * open for NULL; "" when there is none (the errmsg op). */
const char *journal__pg_errmsg(const journal_store *s);
/* Gives this thread's last message to `to` when it is `from`'s. */
void journal__pg_err_move(const journal_store *from, const journal_store *to);
/* The contract's code for a SQLSTATE, or 0 when it names no condition of
 * its own. */
int journal__pg_sqlstate_rc(const char *st);
/* The code of a connection that did not come up (timed out or not). */
int journal__pg_connect_rc(PGconn *pg, int timed_out);
/* Checks a result: 0 when its status is `want`; else records the message,
 * clears it and returns the contract code. */
int journal__pg_check(journal_store *s, PGconn *pg, PGresult *r, ExecStatusType want);
/* journal__pg_check() for a result nobody reads: cleared either way. */
int journal__pg_done(journal_store *s, PGconn *pg, PGresult *r, ExecStatusType want);

/* ---- conn.c: connections and statements */

int64_t journal__pg_now_ms(void);
/* Connects to st->conninfo (not through the pool). */
int journal__pg_connect(struct pg_store *st, struct pg_conn **out);
/* Takes an idle connection of the pool, or makes one. */
int journal__pg_acquire(struct pg_store *st, struct pg_conn **out);
/* Gives a connection back to the pool (or closes it); NULL is ignored. */
void journal__pg_release(struct pg_store *st, struct pg_conn *c);
/* Closes the idle connections of st's pool. */
void journal__pg_pool_close(struct pg_store *st);
/* Closes a connection (a child after fork() closes it silently). */
void journal__pg_conn_free(journal_store *s, struct pg_conn *c);
/* Runs prepared statement k with binary parameters and results. */
int journal__pg_run(struct pg_store *st, struct pg_conn *c, enum pg_stmt k, const char *const *vals, const int *lens,
                    PGresult **out);
/* Sends it without waiting for its results (PQsendQueryPrepared). */
int journal__pg_send(struct pg_store *st, struct pg_conn *c, enum pg_stmt k, const char *const *vals, const int *lens);
/* Runs SQL text (maybe several statements) and checks the last result;
 * *out (when out is not NULL) is the caller's to clear. */
int journal__pg_exec(journal_store *s, PGconn *pg, const char *sql, ExecStatusType want, PGresult **out);
/* Runs SQL text keeping the first nres results, with a deadline (conn.c). */
int journal__pg_query(journal_store *s, PGconn *pg, const char *sql, int64_t deadline, PGresult **res, int nres);
/* Asks the server to cancel the statement running on pg. */
void journal__pg_cancel(PGconn *pg);
/* Ends the transaction open on pg, if any, ignoring the outcome. */
void journal__pg_rollback(PGconn *pg);

/* ---- sql.c: statement text */

/* Fills st->sql and st->lockkey for st->qschema. */
int journal__pg_sql_init(struct pg_store *st);

/* ---- schema.c: a store's tables */

/* Reads the format row: 0, JOURNAL_EVERSION, JOURNAL_ECORRUPT, or -ENOENT
 * when the schema or its meta table is missing. */
int journal__pg_read_format(struct pg_store *st, PGconn *pg);
/* Creates the store's tables (with the lock and transaction of
 * journal__pg_lock_schema()) unless another opener did meanwhile, then
 * reads the format. */
int journal__pg_create_store(struct pg_store *st, PGconn *pg);
/* Begins a transaction holding the advisory lock of schema's creation. */
int journal__pg_lock_schema(journal_store *s, PGconn *pg, const char *schema);
/* Creates schema's tables in the current transaction, unless the schema
 * holds anything already: -EEXIST then. */
int journal__pg_create_tables(journal_store *s, PGconn *pg, const char *schema, const char *qschema);

/* ---- journal.c: the calls on one journal */

/* Reads a journal's bounds from the one row of r, its columns 0 and 1 (in
 * binary or text); no row: the catalog lost the journal, JOURNAL_ECORRUPT
 * with a message on s ("what: ..."). Does not clear r. */
int journal__pg_bounds_row(journal_store *s, const char *what, const PGresult *r, journal_pos *begin, journal_pos *end);
/* Reads journal id's bounds on connection c. */
int journal__pg_bounds_on(struct pg_store *st, struct pg_conn *c, int64_t id, journal_pos *begin, journal_pos *end);
/* Reads record pos of journal id on connection c into memory from
 * alloc(ctx, its length); JOURNAL_ENOTFOUND when there is none. */
int journal__pg_get_on(struct pg_store *st, struct pg_conn *c, int64_t id, journal_pos pos,
                       void *(*alloc)(void *ctx, size_t n), void *ctx, void **rec, size_t *len);
/* Calls fn for row `row` of r (columns: pos, data from `col`). */
int journal__pg_deliver(const PGresult *r, int row, int col, journal_range_fn fn, void *arg, journal_pos *pos);

int journal__pg_jopen(journal_store *s, const char *name, size_t namelen, journal **out);
void journal__pg_jclose(journal *j);
int journal__pg_bounds(journal *j, journal_pos *begin, journal_pos *end);
int journal__pg_get(journal *j, journal_pos pos, void **rec, size_t *len);
int journal__pg_range(journal *j, journal_pos from, journal_range_fn fn, void *arg, uint64_t *delivered);
int journal__pg_append(journal *j, journal_pos end, const journal_record *recs, size_t n);
int journal__pg_truncate(journal *j, journal_pos end, uint64_t *dropped);

/* ---- wait.c */

int journal__pg_wait(journal *j, journal_pos pos, int timeout_ms);

/* ---- snapshot.c */

int journal__pg_snap_begin(journal *j, journal_snapshot **out);
int journal__pg_snap_bounds(journal_snapshot *snap, journal_pos *begin, journal_pos *end);
int journal__pg_snap_get(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len);
int journal__pg_snap_range(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg,
                           uint64_t *delivered);
int journal__pg_snap_renew(journal_snapshot *snap);
void journal__pg_snap_end(journal_snapshot *snap);

/* ---- store.c: the calls on the whole store */

int journal__pg_store_sync(journal_store *s);
int journal__pg_store_list(journal_store *s, journal_list_fn fn, void *arg);
int journal__pg_store_copy(journal_store *s, const char *dest, unsigned flags);
int journal__pg_store_stat(journal_store *s, journal_stat *st);
int journal__pg_store_check(journal_store *s, journal_check_fn fn, void *arg);

#endif /* JOURNAL_PG_INT_H */
