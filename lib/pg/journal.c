/*
 * pg.c - the PostgreSQL backend: a store is one schema of a database,
 * named by a postgresql:// or postgres:// URL.
 *
 * Layout of a store's schema (created at open when missing):
 *   meta(key text, value text)            the row ('format', '1')
 *   journals(id, name bytea, begin_pos, end_pos)   one row per journal
 *   records(journal, pos, data bytea)     primary key (journal, pos)
 * The journals row is the journal's catalog entry: every write updates it
 * first, so its row lock orders the writers of one journal, and a writer
 * whose expected end no longer matches updates nothing (the optimistic
 * check and the write are one statement).
 *
 * Connections: a store keeps a pool of idle connections, as many as calls
 * ran at once (up to PG_IDLE_MAX); each call takes one (connecting when the
 * pool is empty, or when the pooled one died, e.g. after a server restart)
 * and gives it back. A snapshot and a running journal_wait() hold one
 * connection for their whole life. Every statement is prepared once per
 * connection.
 *
 * journal_wait() listens on a channel named after the schema while it
 * holds its journal's advisory lock for its session; an append notifies
 * the channel with the journal's id, in its own transaction, when that
 * lock is held (see pg_wait()).
 *
 * Errors: the SQLSTATE of the server, the connection's state and the
 * system's errno decide the code (pg_sqlstate_rc(), pg_connect_rc()),
 * never words of a message.
 */
#define _GNU_SOURCE /* asprintf() */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "pq_load.h"

#define PG_SCHEMA_PARAM "journal_schema"
#define PG_SCHEMA_DEFAULT "journal"
#define PG_SCHEMA_MAX 63              /* NAMEDATALEN - 1 */
#define PG_IDLE_MAX 32                /* idle connections kept per store */
#define PG_IDLE_MS 60000              /* an idle connection unused this long is closed */
#define PG_TRUNCATE_STEP 8192         /* records removed per transaction */
#define PG_CHUNK 256                  /* records per query in snapshot ranges */
#define PG_DRAIN_MAX 1024             /* rows read rather than cancelled */
#define PG_FIELD_MAX ((1u << 30) - 1) /* PostgreSQL's limit for one value */
#define PG_ARENA_BLOCK 65536          /* bytes of a snapshot's arena block */

/* Type OIDs of the parameters (pg_type.h is a server header). */
#define OID_INT8 20
#define OID_BYTEA 17
#define OID_TEXT 25
#define OID_BYTEA_ARRAY 1001

/*
 * The prepared statements. %1$s is the quoted schema, %2$d its lock key
 * (pg_lock_key()). Parameters and
 * results travel in binary: int8 as 8 big-endian bytes, bytea as raw bytes.
 */
enum pg_stmt { S_BOUNDS, S_GET, S_APPEND1, S_APPENDN, S_FIND, S_CREATE, S_RANGE, S_CHUNK, S_LIST, S_COUNT };

static const struct {
    const char *sql;
    int nparams;
    Oid types[5];
} pg_stmts[S_COUNT] = {
    [S_BOUNDS] = {"SELECT begin_pos, end_pos FROM %1$s.journals WHERE id = $1", 1, {OID_INT8}},
    [S_GET] = {"SELECT data FROM %1$s.records WHERE journal = $1 AND pos = $2", 2, {OID_INT8, OID_INT8}},
    /* The update succeeds only at the current end; the insert and the
     * notification depend on it. One row back means appended. Only
     * journals with waiters are notified (a notifying commit takes a lock
     * that serializes it with every other notifying commit of the server):
     * a waiter holds the journal's advisory lock shared for as long as its
     * session waits, so the append's exclusive try fails then. See
     * pg_wait() for why no wake-up is lost. */
    [S_APPEND1] = {"WITH u AS (UPDATE %1$s.journals SET end_pos = end_pos + 1 WHERE id = $1 AND end_pos = $2 "
                   "RETURNING id, end_pos), "
                   "i AS (INSERT INTO %1$s.records (journal, pos, data) SELECT id, $2, $3 FROM u) "
                   "SELECT (SELECT pg_notify($4, id || ':' || end_pos) WHERE NOT pg_try_advisory_xact_lock(%2$d, "
                   "(id %% 2147483648)::int4)) FROM u",
                   4,
                   {OID_INT8, OID_INT8, OID_BYTEA, OID_TEXT}},
    [S_APPENDN] = {"WITH u AS (UPDATE %1$s.journals SET end_pos = end_pos + $3 WHERE id = $1 AND end_pos = $2 "
                   "RETURNING id, end_pos), "
                   "i AS (INSERT INTO %1$s.records (journal, pos, data) SELECT u.id, $2 + t.o - 1, t.d "
                   "FROM u, unnest($4::bytea[]) WITH ORDINALITY AS t(d, o)) "
                   "SELECT (SELECT pg_notify($5, id || ':' || end_pos) WHERE NOT pg_try_advisory_xact_lock(%2$d, "
                   "(id %% 2147483648)::int4)) FROM u",
                   5,
                   {OID_INT8, OID_INT8, OID_INT8, OID_BYTEA_ARRAY, OID_TEXT}},
    [S_FIND] = {"SELECT id FROM %1$s.journals WHERE name = $1", 1, {OID_BYTEA}},
    [S_CREATE] = {"INSERT INTO %1$s.journals (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id",
                  1,
                  {OID_BYTEA}},
    /* A whole range in one statement, so one snapshot: the bounds on every
     * row, the records only when $2 is at or above begin. The journal's
     * row is one row (id is its key), so a LATERAL join streams the records
     * in the order of their index; an ORDER BY on the join would make the
     * server sort the whole range first (and spill it to disk). pg_range()
     * checks that positions come in order, one by one. */
    [S_RANGE] = {"SELECT j.begin_pos, j.end_pos, r.pos, r.data FROM %1$s.journals j "
                 "LEFT JOIN LATERAL (SELECT pos, data FROM %1$s.records WHERE journal = $1 AND pos >= $2 "
                 "AND $2 >= j.begin_pos ORDER BY pos) r ON true WHERE j.id = $1",
                 2,
                 {OID_INT8, OID_INT8}},
    [S_CHUNK] = {"SELECT pos, data FROM %1$s.records WHERE journal = $1 AND pos >= $2 AND pos < $3 ORDER BY pos "
                 "LIMIT $4",
                 4,
                 {OID_INT8, OID_INT8, OID_INT8, OID_INT8}},
    [S_LIST] = {"SELECT name, begin_pos, end_pos FROM %1$s.journals ORDER BY name", 0, {0}},
};

/* The tables of a store; %1$s is the quoted schema. */
static const char pg_ddl[] =
    "CREATE SCHEMA IF NOT EXISTS %1$s; "
    "CREATE TABLE %1$s.meta (key text PRIMARY KEY, value text NOT NULL); "
    "CREATE TABLE %1$s.journals (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
    "name bytea NOT NULL UNIQUE, begin_pos bigint NOT NULL DEFAULT 0, end_pos bigint NOT NULL DEFAULT 0, "
    "waiters integer NOT NULL DEFAULT 0, "
    "CHECK (0 <= begin_pos AND begin_pos <= end_pos)); "
    "CREATE TABLE %1$s.records (journal bigint NOT NULL, pos bigint NOT NULL, data bytea NOT NULL, "
    "PRIMARY KEY (journal, pos))";

struct pg_conn {
    PGconn *pg;
    unsigned prepared;  /* bit k: pg_stmts[k] is prepared on this connection */
    int doomed;         /* the server announced it is closing the connection */
    int pending;        /* results of a query sent by journal_wait() are unread */
    int64_t idle_since; /* pg_now_ms() when it went back to the pool */
    struct pg_conn *next;
};

struct pg_store {
    struct journal_store base;
    char *conninfo;                  /* the URL without journal_schema */
    char schema[PG_SCHEMA_MAX + 1];  /* also the notification channel */
    char qschema[PG_SCHEMA_MAX + 3]; /* double-quoted */
    int32_t lockkey;                 /* first half of its journals' advisory locks */
    char *sql[S_COUNT];
    pthread_mutex_t mu; /* guards idle, nidle */
    struct pg_conn *idle;
    unsigned nidle;
};

struct pg_journal {
    struct journal base;
    int64_t id;
};

/* Memory that snapshot gets copy records into, freed or reused at renew
 * or end: blocks of PG_ARENA_BLOCK bytes (a larger record gets a block of
 * its own), each record at an 8-byte boundary. */
struct pg_block {
    struct pg_block *next;
    size_t size, used;
    _Alignas(8) unsigned char data[];
};

/* A snapshot is an open REPEATABLE READ transaction on a connection of
 * its own. Its gets copy records into its arena, since the pointers
 * handed out must stay valid until renew or end. */
struct pg_snapshot {
    struct journal_snapshot base;
    struct pg_conn *c; /* NULL once a failed renew made it unusable */
    journal_pos begin, end;
    struct pg_block *arena; /* the block in use first */
};

static const struct journal__ops pg_ops;

static struct pg_store *pg_store_of(journal_store *s)
{
    return (struct pg_store *)s;
}

static int64_t pg_id(journal *j)
{
    return ((struct pg_journal *)j)->id;
}

static int64_t pg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */

/* The message of the last failure in this thread, and the store it
 * belongs to (NULL for journal_store_open()). */
static _Thread_local const journal_store *pg_err_store;
static _Thread_local char pg_err_msg[512];

static void pg_set_err(const journal_store *s, const char *what, const char *msg)
{
    size_t n;
    pg_err_store = s;
    snprintf(pg_err_msg, sizeof pg_err_msg, "%s%s%s", what, *what ? ": " : "", msg ? msg : "");
    n = strlen(pg_err_msg);
    while (n > 0 && (pg_err_msg[n - 1] == '\n' || pg_err_msg[n - 1] == ' '))
        pg_err_msg[--n] = '\0';
}

const char *journal__pg_errmsg(const journal_store *s)
{
    return s == pg_err_store ? pg_err_msg : "";
}

/* The contract's code for a SQLSTATE the server sent, or 0 when the
 * state names no condition of its own (the caller decides then). */
static int pg_sqlstate_rc(const char *st)
{
    if (!st || strlen(st) != 5)
        return 0;
    if (strcmp(st, "57P03") == 0)
        return -ECONNREFUSED; /* starting up or shutting down: not accepting */
    if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P0", 4) == 0)
        return -ECONNRESET; /* connection exception, session terminated */
    if (strcmp(st, "57014") == 0)
        return -ECANCELED;
    if (strcmp(st, "53100") == 0)
        return -ENOSPC;
    if (strcmp(st, "53200") == 0)
        return -ENOMEM;
    if (strcmp(st, "53300") == 0)
        return JOURNAL_EREADERS;
    if (strncmp(st, "53", 2) == 0 || strncmp(st, "40", 2) == 0 || strcmp(st, "55P03") == 0)
        return -EAGAIN;
    if (strcmp(st, "42501") == 0 || strncmp(st, "28", 2) == 0)
        return -EACCES;
    if (strcmp(st, "3D000") == 0)
        return -ENOENT;
    if (strcmp(st, "25006") == 0)
        return JOURNAL_EREADONLY;
    if (strncmp(st, "54", 2) == 0)
        return -E2BIG;
    /* A schema, table or column missing, a constraint broken: the schema
     * is not (or no longer) a journal store. No statement of this file
     * breaks a constraint because of a concurrent one (each reads the rows
     * it changes under their lock), so a class 23 error means the tables
     * hold what the library never writes. */
    if (strncmp(st, "3F", 2) == 0 || strcmp(st, "42P01") == 0 || strcmp(st, "42703") == 0 || strncmp(st, "23", 2) == 0)
        return JOURNAL_ECORRUPT;
    return 0;
}

/* A connection that did not come up. The server's refusal carries a
 * SQLSTATE, which libpq shows only in its message: the connection is made
 * with verbose errors, whose server part reads "SEVERITY:  SQLSTATE: ...".
 * Failures before the server answered carry the system's error text
 * (strerror() or gai_strerror(), in the current locale): the errno is
 * recognised by its own text. */
static int pg_connect_rc(PGconn *pg, int timed_out)
{
    static const int errnos[] = {ECONNREFUSED, ENOENT, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, EACCES, ENOMEM};
    static const int gai[] = {EAI_NONAME, EAI_AGAIN, EAI_FAIL};
    const char *msg = pg ? PQerrorMessage(pg) : NULL, *p;
    char st[6];
    int rc = 0;
    if (!msg)
        return -ENOMEM;
    if (timed_out)
        return -ETIMEDOUT;
    if (PQconnectionNeedsPassword(pg))
        return -EACCES;
    /* The last server error in the message (libpq lists one per host). */
    for (p = strstr(msg, ":  "); p; p = strstr(p + 1, ":  ")) {
        size_t n = strspn(p + 3, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        if (n == 5 && p[8] == ':') {
            memcpy(st, p + 3, 5);
            st[5] = '\0';
            rc = pg_sqlstate_rc(st);
            if (rc == 0)
                rc = -EIO;
        }
    }
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++) {
        char buf[128];
        const char *text = strerror_r(errnos[i], buf, sizeof buf);
        if (strstr(msg, text))
            return errnos[i] == ENOENT ? -ECONNREFUSED : -errnos[i]; /* ENOENT: no socket file */
    }
    for (size_t i = 0; i < sizeof gai / sizeof gai[0]; i++)
        if (strstr(msg, gai_strerror(gai[i])))
            return -EHOSTUNREACH;
    return -EIO;
}

/* A failed statement: the SQLSTATE when the server sent one, else the
 * connection's state: broken (closed by the server, reset) or not. */
static int pg_state_rc(PGconn *pg, const PGresult *r)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    int rc = pg_sqlstate_rc(st);
    if (rc != 0)
        return rc;
    if (st && strlen(st) == 5)
        return -EIO;
    if (PQstatus(pg) == CONNECTION_BAD || PQsocket(pg) < 0)
        return -ECONNRESET;
    {
        struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
            return -ECONNRESET;
    }
    return -EIO;
}

/* Checks a result: 0 when its status is `want`; else records the message,
 * clears it and returns the contract code. */
static int pg_check(journal_store *s, PGconn *pg, PGresult *r, ExecStatusType want)
{
    int rc;
    if (r && PQresultStatus(r) == want)
        return 0;
    rc = pg_state_rc(pg, r);
    pg_set_err(s, "", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    if (!*pg_err_msg)
        pg_set_err(s, "", PQerrorMessage(pg));
    PQclear(r);
    return rc;
}

/* pg_check() for a result nobody reads: cleared either way. */
static int pg_done(journal_store *s, PGconn *pg, PGresult *r, ExecStatusType want)
{
    int rc = pg_check(s, pg, r, want);
    if (rc == 0)
        PQclear(r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Connections                                                          */

/* Frees a connection. In a child after fork() the socket is the parent's:
 * it is replaced by /dev/null first, so that the goodbye libpq sends goes
 * nowhere. */
static void pg_conn_free(journal_store *s, struct pg_conn *c)
{
    if (!c)
        return;
    if (journal__forked(s)) {
        int fd = PQsocket(c->pg), null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd >= 0 && null >= 0)
            dup2(null, fd);
        if (null >= 0)
            close(null);
    }
    PQfinish(c->pg);
    free(c);
}

/* Notices and warnings are the library's business, not stderr's. A FATAL
 * one arriving while the connection is idle is the server closing it
 * (shutdown, pg_terminate_backend()). */
static void pg_on_notice(void *arg, const PGresult *r)
{
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        ((struct pg_conn *)arg)->doomed = 1;
}

/* A pooled connection is usable unless the server closed it meanwhile
 * (restart, pg_terminate_backend()): that shows as input waiting. */
static int pg_conn_alive(struct pg_conn *c)
{
    PGconn *pg = c->pg;
    struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
    PGnotify *n;
    PGresult *r;
    /* A journal_wait() left its clean-up running: it must have worked. */
    for (int bad = 0; c->pending;) {
        r = PQgetResult(pg);
        if (!r) {
            c->pending = 0;
            if (bad)
                return 0;
            break;
        }
        bad |= PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK;
        PQclear(r);
    }
    if (PQstatus(pg) != CONNECTION_OK || PQtransactionStatus(pg) != PQTRANS_IDLE)
        return 0;
    if (poll(&p, 1, 0) > 0 && !PQconsumeInput(pg))
        return 0;
    /* Parses what came (a FATAL notice sets doomed); notifications left
     * from an earlier journal_wait() are stale. */
    while ((n = PQnotifies(pg)) != NULL)
        PQfreemem(n);
    return PQstatus(pg) == CONNECTION_OK && !c->doomed;
}

/* The connect_timeout of a connection being made, in ms (0: none); like
 * libpq, at least 2 s. */
static int64_t pg_connect_timeout(PGconn *pg)
{
    PQconninfoOption *opts = PQconninfo(pg);
    int64_t ms = 0;
    for (PQconninfoOption *o = opts; o && o->keyword; o++) {
        if (strcmp(o->keyword, "connect_timeout") == 0 && o->val && *o->val) {
            ms = strtoll(o->val, NULL, 10) * 1000;
            ms = ms <= 0 ? 0 : ms < 2000 ? 2000 : ms;
        }
    }
    PQconninfoFree(opts);
    return ms;
}

/*
 * Connects without blocking in libpq, so that the connection reports the
 * server's errors verbosely (with their SQLSTATE, see pg_connect_rc()).
 * connect_timeout is applied here, to each host tried, as libpq does.
 */
static int pg_connect(struct pg_store *st, struct pg_conn **out)
{
    static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *vals[] = {st->conninfo, "libjournal", NULL};
    struct pg_conn *c = calloc(1, sizeof *c);
    PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
    const char *host = NULL;
    int64_t timeout, deadline = 0;
    int rc, timed_out = 0;
    if (!c)
        return -ENOMEM;
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg) {
        rc = -ENOMEM;
        goto out_free;
    }
    PQsetErrorVerbosity(c->pg, PQERRORS_VERBOSE);
    timeout = pg_connect_timeout(c->pg);
    while (PQstatus(c->pg) != CONNECTION_BAD && ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED) {
        struct pollfd p = {.fd = PQsocket(c->pg), .events = ps == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        int wait_ms = -1, n;
        if (timeout > 0) {
            if (PQhost(c->pg) != host) {
                host = PQhost(c->pg); /* the next host: its own timeout */
                deadline = pg_now_ms() + timeout;
            }
            wait_ms = (int)(deadline - pg_now_ms());
            if (wait_ms <= 0) {
                timed_out = 1;
                break;
            }
        }
        n = p.fd < 0 ? 1 : poll(&p, 1, wait_ms);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            pg_set_err(&st->base, "connect", strerror(errno));
            goto out_finish;
        }
        if (n > 0)
            ps = PQconnectPoll(c->pg);
    }
    if (timed_out || PQstatus(c->pg) != CONNECTION_OK) {
        rc = pg_connect_rc(c->pg, timed_out);
        pg_set_err(&st->base, "connect", timed_out ? "timeout expired" : PQerrorMessage(c->pg));
        goto out_finish;
    }
    PQsetErrorVerbosity(c->pg, PQERRORS_DEFAULT);
    PQsetNoticeReceiver(c->pg, pg_on_notice, c);
    if (st->base.flags & JOURNAL_NOSYNC) {
        rc = pg_done(&st->base, c->pg, PQexec(c->pg, "SET synchronous_commit = off"), PGRES_COMMAND_OK);
        if (rc != 0)
            goto out_finish;
    }
    *out = c;
    return 0;
out_finish:
    PQfinish(c->pg);
out_free:
    free(c);
    return rc;
}

/* Takes an idle connection, or makes one. */
static int pg_acquire(struct pg_store *st, struct pg_conn **out)
{
    struct pg_conn *c;
    for (;;) {
        pthread_mutex_lock(&st->mu);
        c = st->idle;
        if (c) {
            st->idle = c->next;
            st->nidle--;
        }
        pthread_mutex_unlock(&st->mu);
        if (!c)
            return pg_connect(st, out);
        if (pg_conn_alive(c)) {
            c->next = NULL;
            *out = c;
            return 0;
        }
        pg_conn_free(&st->base, c);
    }
}

/* Gives a connection back: kept when it is healthy, outside any
 * transaction and the pool has room; closed otherwise. The pool is a
 * stack, most recently used first, so it grows to the number of calls
 * running at once (up to PG_IDLE_MAX) and the connections a burst left
 * behind sink to its bottom, where they are closed once unused for
 * PG_IDLE_MS. */
static void pg_release(struct pg_store *st, struct pg_conn *c)
{
    struct pg_conn *stale = NULL;
    if (!c)
        return;
    if (PQstatus(c->pg) == CONNECTION_OK && (PQtransactionStatus(c->pg) == PQTRANS_IDLE || c->pending)) {
        int64_t now = pg_now_ms();
        pthread_mutex_lock(&st->mu);
        if (st->nidle < PG_IDLE_MAX) {
            c->idle_since = now;
            c->next = st->idle;
            st->idle = c;
            st->nidle++;
            c = NULL;
            for (struct pg_conn **p = &st->idle; *p; p = &(*p)->next) {
                if (now - (*p)->idle_since > PG_IDLE_MS) {
                    stale = *p;
                    *p = NULL;
                    break;
                }
            }
            for (struct pg_conn *k = stale; k; k = k->next)
                st->nidle--;
        }
        pthread_mutex_unlock(&st->mu);
    }
    pg_conn_free(&st->base, c);
    while (stale) {
        c = stale->next;
        pg_conn_free(&st->base, stale);
        stale = c;
    }
}

static int pg_prepare(struct pg_store *st, struct pg_conn *c, enum pg_stmt k)
{
    char name[8];
    int rc;
    if (c->prepared & 1u << k)
        return 0;
    snprintf(name, sizeof name, "j%d", (int)k);
    rc = pg_done(&st->base, c->pg, PQprepare(c->pg, name, st->sql[k], pg_stmts[k].nparams, pg_stmts[k].types),
                 PGRES_COMMAND_OK);
    if (rc == 0)
        c->prepared |= 1u << k;
    return rc;
}

/* Runs prepared statement k with binary parameters and results. */
static int pg_run(struct pg_store *st, struct pg_conn *c, enum pg_stmt k, const char *const *vals, const int *lens,
                  PGresult **out)
{
    static const int fmts[5] = {1, 1, 1, 1, 1};
    char name[8];
    int rc = pg_prepare(st, c, k);
    if (rc != 0)
        return rc;
    snprintf(name, sizeof name, "j%d", (int)k);
    *out = PQexecPrepared(c->pg, name, pg_stmts[k].nparams, vals, lens, fmts, 1);
    rc = pg_check(&st->base, c->pg, *out, PGRES_TUPLES_OK);
    if (rc != 0)
        *out = NULL;
    return rc;
}

/* Runs SQL text (maybe several statements) and checks the last result. */
static int pg_exec(journal_store *s, PGconn *pg, const char *sql, ExecStatusType want, PGresult **out)
{
    PGresult *r = PQexec(pg, sql);
    int rc = pg_check(s, pg, r, want);
    if (rc == 0 && out)
        *out = r;
    else if (rc == 0)
        PQclear(r);
    return rc;
}

static void pg_put64(char *p, int64_t v)
{
    journal__put_be64((unsigned char *)p, (uint64_t)v);
}

static int64_t pg_get64(const PGresult *r, int row, int col)
{
    return (int64_t)journal__get_be64((const unsigned char *)PQgetvalue(r, row, col));
}

/* The first key of the advisory locks of a store's journals (the
 * second is the journal's id): FNV-1a of the schema's name. Two stores
 * whose keys collide only make each other's appends notify needlessly. */
static int32_t pg_lock_key(const char *schema)
{
    uint32_t h = 2166136261u;
    for (const char *p = "libjournal:"; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    for (const char *p = schema; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return (int32_t)h;
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */

/* An identifier PostgreSQL accepts for a new schema: letters, digits and
 * _, not starting with a digit nor with pg_ (reserved for the system). */
static int pg_schema_valid(const char *name, size_t len)
{
    if (len == 0 || len > PG_SCHEMA_MAX || (name[0] >= '0' && name[0] <= '9') ||
        (len >= 3 && strncasecmp(name, "pg_", 3) == 0))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return 1;
}

/* Splits journal_schema=NAME off the URL's query; the rest goes to libpq
 * as it was. */
static int pg_parse_url(const char *url, char **conninfo, char *schema)
{
    const char *q = strchr(url, '?'), *p;
    char *out;
    size_t n;
    int seen = 0;
    strcpy(schema, PG_SCHEMA_DEFAULT);
    out = malloc(strlen(url) + 1);
    if (!out)
        return -ENOMEM;
    n = q ? (size_t)(q - url) : strlen(url);
    memcpy(out, url, n);
    out[n] = '\0';
    for (p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        size_t klen = sizeof PG_SCHEMA_PARAM - 1;
        if (len > klen && strncmp(p, PG_SCHEMA_PARAM "=", klen + 1) == 0) {
            if (seen || !pg_schema_valid(p + klen + 1, len - klen - 1)) {
                free(out);
                return -EINVAL;
            }
            memcpy(schema, p + klen + 1, len - klen - 1);
            schema[len - klen - 1] = '\0';
            seen = 1;
        } else if (len > 0) {
            strcat(out, strchr(out, '?') ? "&" : "?");
            strncat(out, p, len);
        }
        p = amp ? amp + 1 : NULL;
    }
    *conninfo = out;
    return 0;
}

/* Reads the format row: 0, JOURNAL_EVERSION, JOURNAL_ECORRUPT, or -ENOENT
 * when the schema or its meta table is missing. */
static int pg_read_format(struct pg_store *st, PGconn *pg)
{
    char sql[512];
    PGresult *r;
    const char *state;
    int rc;
    snprintf(sql, sizeof sql, "SELECT value FROM %s.meta WHERE key = 'format'", st->qschema);
    r = PQexec(pg, sql);
    state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (PQresultStatus(r) != PGRES_TUPLES_OK && state && (strcmp(state, "3F000") == 0 || strcmp(state, "42P01") == 0)) {
        PQclear(r);
        return -ENOENT;
    }
    rc = pg_check(&st->base, pg, r, PGRES_TUPLES_OK);
    if (rc != 0)
        return rc;
    if (PQntuples(r) != 1) {
        rc = JOURNAL_ECORRUPT;
        pg_set_err(&st->base, st->schema, "the meta table has no format row");
    } else if (strcmp(PQgetvalue(r, 0, 0), "1") != 0) {
        rc = JOURNAL_EVERSION;
        pg_set_err(&st->base, st->schema, "unknown format version");
    }
    PQclear(r);
    return rc;
}

/* Creates the schema's tables in dest's transaction, unless the schema
 * holds anything already: -EEXIST then. The caller holds the advisory
 * lock of the schema. */
static int pg_create_tables(journal_store *s, PGconn *pg, const char *schema, const char *qschema)
{
    char sql[sizeof pg_ddl + 8 * PG_SCHEMA_MAX];
    PGresult *r;
    int rc;
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '%s'",
             schema);
    rc = pg_exec(s, pg, sql, PGRES_TUPLES_OK, &r);
    if (rc != 0)
        return rc;
    if (strcmp(PQgetvalue(r, 0, 0), "0") != 0) {
        rc = -EEXIST;
        pg_set_err(s, schema, "the schema is not empty");
    }
    PQclear(r);
    if (rc != 0)
        return rc;
    snprintf(sql, sizeof sql, pg_ddl, qschema);
    return pg_exec(s, pg, sql, PGRES_COMMAND_OK, NULL);
}

/* Serializes the creation of one schema between processes and hosts. */
static int pg_lock_schema(journal_store *s, PGconn *pg, const char *schema)
{
    char sql[512];
    snprintf(sql, sizeof sql, "BEGIN; SELECT pg_advisory_xact_lock(hashtext('libjournal:%s'))", schema);
    return pg_exec(s, pg, sql, PGRES_TUPLES_OK, NULL);
}

static int pg_create_store(struct pg_store *st, PGconn *pg)
{
    char sql[512];
    PGresult *r;
    int missing = 0, rc = pg_lock_schema(&st->base, pg, st->schema);
    if (rc != 0)
        return rc;
    /* Another opener may have created it while we waited for the lock. */
    snprintf(sql, sizeof sql, "SELECT to_regclass('%s.meta') IS NULL", st->qschema);
    rc = pg_exec(&st->base, pg, sql, PGRES_TUPLES_OK, &r);
    if (rc == 0) {
        missing = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
    }
    if (rc == 0 && missing) {
        rc = pg_create_tables(&st->base, pg, st->schema, st->qschema);
        if (rc == -EEXIST)
            rc = JOURNAL_ECORRUPT; /* a schema of something else */
        if (rc == 0) {
            snprintf(sql, sizeof sql, "INSERT INTO %s.meta VALUES ('format', '%d')", st->qschema,
                     JOURNAL_FORMAT_VERSION);
            rc = pg_exec(&st->base, pg, sql, PGRES_COMMAND_OK, NULL);
        }
    }
    if (rc == 0)
        rc = pg_exec(&st->base, pg, "COMMIT", PGRES_COMMAND_OK, NULL);
    else
        PQclear(PQexec(pg, "ROLLBACK"));
    return rc == 0 ? pg_read_format(st, pg) : rc;
}

static void pg_store_free(struct pg_store *st)
{
    struct pg_conn *c;
    while ((c = st->idle) != NULL) {
        st->idle = c->next;
        pg_conn_free(&st->base, c);
    }
    for (int k = 0; k < S_COUNT; k++)
        free(st->sql[k]);
    free(st->conninfo);
    pthread_mutex_destroy(&st->mu);
    journal__store_fini(&st->base);
    free(st);
}

int journal__is_pg_url(const char *path)
{
    return strncmp(path, "postgresql://", 13) == 0 || strncmp(path, "postgres://", 11) == 0;
}

int journal__pg_open(const char *url, const journal_options *opts, journal_store **out)
{
    struct pg_store *st;
    struct pg_conn *c = NULL;
    PQconninfoOption *parsed;
    const char *why;
    char *err = NULL;
    int rc;
    /* libpq is loaded at the first PostgreSQL open (pq_load.h). */
    rc = journal__pq_load(&why);
    if (rc != 0) {
        pg_set_err(NULL, "", why);
        return rc;
    }
    st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    pthread_mutex_init(&st->mu, NULL);
    rc = journal__store_init(&st->base, &pg_ops, url, opts->flags);
    if (rc != 0)
        goto out_free;
    rc = pg_parse_url(url, &st->conninfo, st->schema);
    if (rc != 0) {
        pg_set_err(NULL, url, "journal_schema must be 1 to 63 letters, digits or _, not starting with a digit or pg_");
        goto out_free;
    }
    parsed = PQconninfoParse(st->conninfo, &err);
    if (!parsed) {
        rc = err ? -EINVAL : -ENOMEM;
        pg_set_err(NULL, "invalid URL", err);
        PQfreemem(err);
        goto out_free;
    }
    PQconninfoFree(parsed);
    snprintf(st->qschema, sizeof st->qschema, "\"%s\"", st->schema);
    st->lockkey = pg_lock_key(st->schema);
    for (int k = 0; k < S_COUNT; k++) {
        if (asprintf(&st->sql[k], pg_stmts[k].sql, st->qschema, st->lockkey) < 0) {
            st->sql[k] = NULL;
            rc = -ENOMEM;
            goto out_free;
        }
    }
    rc = pg_acquire(st, &c);
    if (rc != 0)
        goto out_free;
    rc = pg_read_format(st, c->pg);
    if (rc == -ENOENT && !(opts->flags & JOURNAL_RDONLY))
        rc = pg_create_store(st, c->pg);
    else if (rc == -ENOENT)
        pg_set_err(&st->base, st->schema, "no journal store in this schema");
    if (rc != 0)
        goto out_conn;
    pg_release(st, c);
    *out = &st->base;
    return 0;
out_conn:
    pg_conn_free(&st->base, c);
out_free:
    /* The message belongs to the open, whose store never existed. */
    if (pg_err_store == &st->base)
        pg_err_store = NULL;
    pg_store_free(st);
    return rc;
}

static void pg_store_close(journal_store *s)
{
    pg_store_free(pg_store_of(s));
}

/* ------------------------------------------------------------------ */
/* Journals                                                             */

static int pg_open(journal_store *s, const char *name, size_t namelen, journal **out)
{
    struct pg_store *st = pg_store_of(s);
    struct pg_conn *c = NULL;
    const char *vals[1] = {name};
    int lens[1] = {(int)namelen};
    PGresult *r = NULL;
    journal *j = NULL;
    int rc = pg_acquire(st, &c);
    if (rc != 0)
        goto out;
    rc = pg_run(st, c, S_FIND, vals, lens, &r);
    /* Create when missing; a racing creator makes the insert return
     * nothing, and the second look finds its row. */
    for (int step = 0; rc == 0 && PQntuples(r) == 0 && step < 2; step++) {
        PQclear(r);
        r = NULL;
        if (s->flags & JOURNAL_RDONLY) {
            rc = -ENOENT;
            pg_set_err(s, name, "no such journal");
            break;
        }
        rc = pg_run(st, c, step == 0 ? S_CREATE : S_FIND, vals, lens, &r);
    }
    if (rc != 0)
        goto out_release;
    if (PQntuples(r) != 1) {
        rc = JOURNAL_ECORRUPT;
        goto out_clear;
    }
    rc = journal__journal_alloc(s, name, namelen, sizeof(struct pg_journal), &j);
    if (rc != 0)
        goto out_clear;
    ((struct pg_journal *)j)->id = pg_get64(r, 0, 0);
    *out = j;
out_clear:
    PQclear(r);
out_release:
    pg_release(st, c);
out:
    return rc;
}

static void pg_close(journal *j)
{
    free(j);
}

/* The bounds on connection c. */
static int pg_bounds_on(struct pg_store *st, struct pg_conn *c, int64_t id, journal_pos *begin, journal_pos *end)
{
    char idb[8];
    const char *vals[1] = {idb};
    int lens[1] = {8};
    PGresult *r;
    int rc;
    pg_put64(idb, id);
    rc = pg_run(st, c, S_BOUNDS, vals, lens, &r);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 1) {
        *begin = (journal_pos)pg_get64(r, 0, 0);
        *end = (journal_pos)pg_get64(r, 0, 1);
    } else {
        rc = JOURNAL_ECORRUPT;
        pg_set_err(&st->base, "", "the journal's catalog row is missing");
    }
    PQclear(r);
    return rc;
}

static int pg_bounds(journal *j, journal_pos *begin, journal_pos *end)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    int rc = pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = pg_bounds_on(st, c, pg_id(j), begin, end);
    pg_release(st, c);
    return rc;
}

static int pg_get(journal *j, journal_pos pos, void **rec, size_t *len)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    char idb[8], posb[8];
    const char *vals[2] = {idb, posb};
    int lens[2] = {8, 8};
    PGresult *r;
    size_t n;
    void *copy;
    int rc;
    if (pos > INT64_MAX)
        return JOURNAL_ENOTFOUND;
    rc = pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    pg_put64(idb, pg_id(j));
    pg_put64(posb, (int64_t)pos);
    rc = pg_run(st, c, S_GET, vals, lens, &r);
    pg_release(st, c);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 0) {
        rc = JOURNAL_ENOTFOUND;
    } else {
        n = (size_t)PQgetlength(r, 0, 0);
        copy = malloc(n ? n : 1);
        if (copy) {
            memcpy(copy, PQgetvalue(r, 0, 0), n);
            *rec = copy;
            *len = n;
        } else {
            rc = -ENOMEM;
        }
    }
    PQclear(r);
    return rc;
}

/* Calls fn for row `row` of r (columns: pos, data from `col`). */
static int pg_deliver(const PGresult *r, int row, int col, journal_range_fn fn, void *arg, journal_pos *pos)
{
    *pos = (journal_pos)pg_get64(r, row, col);
    return fn(arg, *pos, PQgetvalue(r, row, col + 1), (size_t)PQgetlength(r, row, col + 1));
}

/*
 * The whole range is one statement, so one snapshot, streamed row by row
 * (single-row mode) so that memory stays bounded. When fn stops early, the
 * rest is read and dropped if short, or the statement is cancelled.
 */
static int pg_range(journal *j, journal_pos from, journal_range_fn fn, void *arg)
{
    struct pg_store *st = pg_store_of(j->s);
    static const int fmts[2] = {1, 1};
    struct pg_conn *c;
    char idb[8], fromb[8], name[8];
    const char *vals[2] = {idb, fromb};
    int lens[2] = {8, 8};
    journal_pos pos = from, end = 0;
    uint64_t delivered = 0;
    PGresult *r;
    int rc, done = 0, first = 1;
    if (from > INT64_MAX)
        return JOURNAL_ENOTFOUND;
    rc = pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = pg_prepare(st, c, S_RANGE);
    if (rc != 0)
        goto out_release;
    pg_put64(idb, pg_id(j));
    pg_put64(fromb, (int64_t)from);
    snprintf(name, sizeof name, "j%d", (int)S_RANGE);
    if (!PQsendQueryPrepared(c->pg, name, 2, vals, lens, fmts, 1)) {
        rc = pg_check(j->s, c->pg, NULL, PGRES_TUPLES_OK);
        goto out_release;
    }
    PQsetSingleRowMode(c->pg);
    while ((r = PQgetResult(c->pg)) != NULL) {
        int ret;
        if (done || PQresultStatus(r) == PGRES_TUPLES_OK) {
            PQclear(r);
            continue;
        }
        if (PQresultStatus(r) != PGRES_SINGLE_TUPLE) {
            rc = pg_check(j->s, c->pg, r, PGRES_SINGLE_TUPLE);
            done = 1;
            continue;
        }
        if (first) {
            journal_pos b = (journal_pos)pg_get64(r, 0, 0);
            end = (journal_pos)pg_get64(r, 0, 1);
            first = 0;
            if (from < b || from >= end) {
                rc = JOURNAL_ENOTFOUND;
                done = 1;
                PQclear(r);
                continue;
            }
        }
        if (PQgetisnull(r, 0, 2)) {
            rc = JOURNAL_ECORRUPT; /* within the bounds but no record */
            pg_set_err(j->s, j->name, "a record is missing within the bounds");
            done = 1;
            PQclear(r);
            continue;
        }
        if ((journal_pos)pg_get64(r, 0, 2) != from + delivered) {
            rc = JOURNAL_ECORRUPT; /* a gap, or records out of order */
            pg_set_err(j->s, j->name, "records out of order or missing within the bounds");
            done = 1;
            PQclear(r);
            continue;
        }
        ret = pg_deliver(r, 0, 2, fn, arg, &pos);
        PQclear(r);
        delivered++;
        if (ret != 0) {
            rc = ret < 0 ? ret : 0;
            done = 1;
            if (end - pos > PG_DRAIN_MAX) {
                PGcancel *cancel = PQgetCancel(c->pg);
                char buf[256];
                if (cancel) {
                    PQcancel(cancel, buf, sizeof buf);
                    PQfreeCancel(cancel);
                }
            }
        }
    }
    if (first && rc == 0) {
        rc = JOURNAL_ECORRUPT;
        pg_set_err(j->s, "", "the journal's catalog row is missing");
    }
    journal__count(&j->s->counters.range_records, delivered);
out_release:
    pg_release(st, c);
    return rc;
}

/* The array of bytea in PostgreSQL's binary format: a header, then each
 * element as a 4-byte length and its bytes. */
static int pg_pack_array(const journal_record *recs, size_t n, char **out, size_t *outlen)
{
    size_t total = 20 + 4 * n;
    char *buf, *p;
    for (size_t i = 0; i < n; i++) {
        total += recs[i].len;
        if (total > PG_FIELD_MAX)
            return -E2BIG;
    }
    if (total > PG_FIELD_MAX)
        return -E2BIG;
    buf = malloc(total);
    if (!buf)
        return -ENOMEM;
    p = buf;
    for (uint32_t v, i = 0; i < 5; i++) {
        static const uint32_t hdr[3] = {1, 0, OID_BYTEA};
        v = i < 3 ? hdr[i] : i == 3 ? (uint32_t)n : 1;
        for (int b = 3; b >= 0; b--)
            *p++ = (char)(v >> (8 * b));
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)recs[i].len;
        for (int b = 3; b >= 0; b--)
            *p++ = (char)(v >> (8 * b));
        if (recs[i].len)
            memcpy(p, recs[i].data, recs[i].len);
        p += recs[i].len;
    }
    *out = buf;
    *outlen = total;
    return 0;
}

/* After an append that matched nothing: below or above the end? */
static int pg_append_miss(struct pg_store *st, struct pg_conn *c, journal *j, journal_pos at)
{
    journal_pos b, e;
    int rc = pg_bounds_on(st, c, pg_id(j), &b, &e);
    if (rc != 0)
        return rc;
    if (at < e)
        return JOURNAL_ECONFLICT;
    return at > e ? JOURNAL_EBEYOND : 0;
}

static int pg_append(journal *j, journal_pos end, const journal_record *recs, size_t n)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    char idb[8], endb[8], nb[8];
    const char *vals[5];
    int lens[5];
    char *packed = NULL;
    size_t packedlen = 0;
    PGresult *r;
    int rc, k = 0;
    if (end > INT64_MAX)
        return JOURNAL_EBEYOND; /* no journal ends there */
    if (n > (uint64_t)INT64_MAX - end)
        return -EOVERFLOW;
    for (size_t i = 0; i < n; i++)
        if (recs[i].len > PG_FIELD_MAX)
            return -EMSGSIZE;
    if (n > 1) {
        rc = pg_pack_array(recs, n, &packed, &packedlen);
        if (rc != 0)
            return rc;
    }
    rc = pg_acquire(st, &c);
    if (rc != 0)
        goto out;
    if (n == 0) {
        rc = pg_append_miss(st, c, j, end);
        goto out_release;
    }
    pg_put64(idb, pg_id(j));
    pg_put64(endb, (int64_t)end);
    vals[k] = idb, lens[k++] = 8;
    vals[k] = endb, lens[k++] = 8;
    if (n == 1) {
        vals[k] = recs[0].len ? recs[0].data : "";
        lens[k++] = (int)recs[0].len;
    } else {
        pg_put64(nb, (int64_t)n);
        vals[k] = nb, lens[k++] = 8;
        vals[k] = packed, lens[k++] = (int)packedlen;
    }
    vals[k] = st->schema, lens[k++] = (int)strlen(st->schema);
    rc = pg_run(st, c, n == 1 ? S_APPEND1 : S_APPENDN, vals, lens, &r);
    if (rc != 0)
        goto out_release;
    if (PQntuples(r) == 0) {
        rc = pg_append_miss(st, c, j, end);
        if (rc == 0)
            rc = JOURNAL_ECONFLICT; /* the end moved past `end` meanwhile */
    }
    PQclear(r);
out_release:
    pg_release(st, c);
out:
    free(packed);
    return rc;
}

/*
 * Sends sql (maybe several statements) and reads every result, keeping
 * the first nres in res[] (the caller clears them). Returns the error of
 * the first statement that failed; PostgreSQL skips the ones after it.
 * With a deadline (pg_now_ms() time, 0 for none), a statement still
 * running then is cancelled and the call gives -ETIMEDOUT; the
 * connection stays usable (outside the transaction when sql opened one,
 * which is rolled back).
 */
static int pg_query(journal_store *s, PGconn *pg, const char *sql, int64_t deadline, PGresult **res, int nres)
{
    PGresult *r;
    int rc = 0, n = 0, cancelled = 0;
    if (!PQsendQuery(pg, sql))
        return pg_check(s, pg, NULL, PGRES_COMMAND_OK);
    for (;;) {
        while (PQisBusy(pg)) {
            struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
            int wait_ms = -1, k;
            if (deadline > 0 && !cancelled) {
                int64_t left = deadline - pg_now_ms();
                wait_ms = left > 0 ? (int)left : 0;
            }
            k = poll(&p, 1, wait_ms);
            if (k < 0 && errno != EINTR) {
                rc = -errno;
                pg_set_err(s, "poll", strerror(errno));
                goto out;
            }
            if (k == 0 && !cancelled) {
                PGcancel *cancel = PQgetCancel(pg);
                char buf[256];
                if (cancel) {
                    PQcancel(cancel, buf, sizeof buf);
                    PQfreeCancel(cancel);
                }
                cancelled = 1;
            }
            if (k > 0 && !PQconsumeInput(pg)) {
                rc = pg_check(s, pg, NULL, PGRES_COMMAND_OK);
                goto out;
            }
        }
        r = PQgetResult(pg);
        if (!r)
            break;
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = pg_check(s, pg, r, PGRES_COMMAND_OK);
            continue;
        }
        if (n < nres)
            res[n++] = r;
        else
            PQclear(r);
    }
    if (cancelled && (rc == 0 || rc == -ECANCELED)) {
        rc = -ETIMEDOUT;
        pg_set_err(s, "", "the deadline passed");
    }
    if (rc == 0 || PQtransactionStatus(pg) != PQTRANS_INERROR)
        goto out;
    if ((r = PQexec(pg, "ROLLBACK")) != NULL)
        PQclear(r);
out:
    if (rc != 0) {
        while (n > 0)
            PQclear(res[--n]), res[n] = NULL;
    }
    return rc;
}

/*
 * One step of a truncation, one transaction in one round trip: lock the
 * journal's row (which waits for an append holding it and then reads its
 * newest version), then, in statements that start after the lock was
 * granted and so see every append committed before it, delete the
 * records passed over and move begin by at most PG_TRUNCATE_STEP towards
 * end. Nothing is done when end is outside the locked bounds.
 */
static int pg_truncate_step(struct pg_store *st, struct pg_conn *c, int64_t id, int64_t end, int64_t *b, int64_t *e)
{
    char sql[1024];
    PGresult *r = NULL;
    int rc;
    snprintf(sql, sizeof sql,
             "SELECT begin_pos, end_pos FROM %1$s.journals WHERE id = %2$" PRId64 " FOR UPDATE; "
             "DELETE FROM %1$s.records WHERE journal = %2$" PRId64
             " AND pos >= (SELECT begin_pos FROM %1$s.journals WHERE id = %2$" PRId64 ") "
             "AND pos < (SELECT least(%3$" PRId64 ", begin_pos + %4$d) FROM %1$s.journals WHERE id = %2$" PRId64
             " AND %3$" PRId64 " <= end_pos); "
             "UPDATE %1$s.journals SET begin_pos = least(%3$" PRId64 ", begin_pos + %4$d) WHERE id = %2$" PRId64
             " AND %3$" PRId64 " > begin_pos AND %3$" PRId64 " <= end_pos",
             st->qschema, id, end, PG_TRUNCATE_STEP);
    rc = pg_query(&st->base, c->pg, sql, 0, &r, 1);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 1) {
        *b = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *e = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    } else {
        rc = JOURNAL_ECORRUPT;
        pg_set_err(&st->base, "", "the journal's catalog row is missing");
    }
    PQclear(r);
    return rc;
}

static int pg_truncate(journal *j, journal_pos end)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    int64_t b, e, nb;
    int rc;
    if (end > INT64_MAX)
        return JOURNAL_EBEYOND;
    rc = pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    /* Each step is its own transaction and leaves a valid journal. */
    for (;;) {
        rc = pg_truncate_step(st, c, pg_id(j), (int64_t)end, &b, &e);
        if (rc != 0)
            break;
        if ((int64_t)end > e) {
            rc = JOURNAL_EBEYOND;
            break;
        }
        nb = (int64_t)end < b + PG_TRUNCATE_STEP ? (int64_t)end : b + PG_TRUNCATE_STEP;
        if (nb > b)
            journal__count(&j->s->counters.truncated, (uint64_t)(nb - b));
        if (nb >= (int64_t)end)
            break;
    }
    pg_release(st, c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* journal_wait()                                                       */

/*
 * A waiter takes its journal's advisory lock shared, for its session,
 * LISTENs and commits, then reads the end: one round trip. An append
 * tries the same lock exclusively, for its transaction, and notifies
 * unless it got it. No wake-up is lost: an append that got the lock holds
 * it until it commits, so a waiter taking the lock meanwhile is granted it
 * only after that commit, and its read of the end sees the append; an
 * append that did not get it commits after the waiter's LISTEN (which
 * committed before the waiter read the end, or the read would have seen
 * the append) and so notifies it. Each notification carries "id:end" of
 * the append that sent it, so waking needs no query.
 *
 * Nothing outlives the waiter: the lock is its session's, released when
 * the wait ends and by the server when the session dies (killed, server
 * restarted), so appends stop notifying as soon as the last waiter of the
 * journal is gone. Every statement is bounded by the caller's deadline
 * (pg_query() cancels it); the wait itself sleeps in poll().
 */
static int pg_wait(journal *j, journal_pos pos, int timeout_ms)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    char sql[512], prefix[24];
    int64_t deadline = timeout_ms > 0 ? pg_now_ms() + timeout_ms : 0;
    size_t plen;
    journal_pos b, e = 0;
    PGresult *r[5] = {NULL};
    int rc = pg_acquire(st, &c), clean;
    if (rc != 0)
        return rc;
    if (timeout_ms == 0) {
        rc = pg_bounds_on(st, c, pg_id(j), &b, &e);
        if (rc == 0 && e <= pos)
            rc = -ETIMEDOUT;
        pg_release(st, c);
        return rc;
    }
    snprintf(prefix, sizeof prefix, "%" PRId64 ":", pg_id(j));
    plen = strlen(prefix);
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_lock_shared(%2$d, %3$d); LISTEN %1$s; COMMIT; "
             "SELECT end_pos FROM %1$s.journals WHERE id = %4$" PRId64,
             st->qschema, st->lockkey, (int32_t)(pg_id(j) % 2147483648), pg_id(j));
    rc = pg_query(j->s, c->pg, sql, deadline, r, 5);
    if (rc == 0 && PQntuples(r[4]) == 1) {
        e = strtoull(PQgetvalue(r[4], 0, 0), NULL, 10);
    } else if (rc == 0) {
        rc = JOURNAL_ECORRUPT;
        pg_set_err(j->s, j->name, "the journal's catalog row is missing");
    }
    for (int i = 0; i < 5; i++)
        PQclear(r[i]);
    while (rc == 0 && e <= pos) {
        struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};
        PGnotify *n;
        int wait_ms = -1;
        while ((n = PQnotifies(c->pg)) != NULL) {
            if (strncmp(n->extra, prefix, plen) == 0) {
                journal_pos ne = strtoull(n->extra + plen, NULL, 10);
                e = ne > e ? ne : e;
            }
            PQfreemem(n);
        }
        if (e > pos)
            break;
        if (c->doomed) {
            rc = -ECONNRESET; /* the server said it closes the session */
            pg_set_err(j->s, j->name, "the server terminated the waiting session");
            break;
        }
        if (timeout_ms > 0) {
            int64_t left = deadline - pg_now_ms();
            if (left <= 0) {
                rc = -ETIMEDOUT;
                break;
            }
            wait_ms = (int)left;
        }
        if (poll(&p, 1, wait_ms) < 0)
            rc = errno == EINTR ? -EINTR : -errno;
        else if (p.revents && !PQconsumeInput(c->pg))
            rc = pg_check(j->s, c->pg, NULL, PGRES_COMMAND_OK);
    }
    /* The clean-up is sent, not waited for: the server runs it at once,
     * and the next taker of the connection reads its results (a failure
     * closes the connection, which releases the lock). A connection that
     * cannot take it never goes back to the pool. */
    clean = !c->doomed && PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE &&
            PQsendQuery(c->pg, "UNLISTEN *; SELECT pg_advisory_unlock_all()");
    c->pending = clean;
    if (clean)
        pg_release(st, c);
    else
        pg_conn_free(j->s, c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                            */

/* Frees the arena's blocks; with keep, keeps one block of the usual size
 * (emptied) for the gets after a renew. */
static void pg_snap_clear(struct pg_snapshot *sn, int keep)
{
    struct pg_block *b = sn->arena, *kept = NULL;
    while (b) {
        struct pg_block *next = b->next;
        if (keep && !kept && b->size == PG_ARENA_BLOCK) {
            kept = b;
            kept->used = 0;
            kept->next = NULL;
        } else {
            free(b);
        }
        b = next;
    }
    sn->arena = kept;
}

/* n bytes of the arena, valid until pg_snap_clear(). */
static void *pg_snap_alloc(struct pg_snapshot *sn, size_t n)
{
    struct pg_block *b = sn->arena;
    size_t need = (n + 7) & ~(size_t)7;
    if (!b || b->size - b->used < need) {
        size_t size = need > PG_ARENA_BLOCK ? need : PG_ARENA_BLOCK;
        b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        /* A record's own block goes behind the one in use, which keeps
         * its room for the next small records. */
        if (size > PG_ARENA_BLOCK && sn->arena) {
            b->next = sn->arena->next;
            sn->arena->next = b;
        } else {
            b->next = sn->arena;
            sn->arena = b;
        }
    }
    b->used += need;
    return b->data + b->used - need;
}

/* Starts the snapshot's transaction and reads its bounds, in one round
 * trip; `prefix` ends the previous transaction on renew. */
static int pg_snap_start(struct pg_snapshot *sn, const char *prefix)
{
    journal *j = sn->base.j;
    struct pg_store *st = pg_store_of(j->s);
    char sql[512];
    PGresult *r;
    int rc;
    snprintf(sql, sizeof sql,
             "%sBEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
             "SELECT begin_pos, end_pos FROM %s.journals WHERE id = %" PRId64,
             prefix, st->qschema, pg_id(j));
    rc = pg_exec(j->s, sn->c->pg, sql, PGRES_TUPLES_OK, &r);
    if (rc != 0)
        return rc;
    if (PQntuples(r) == 1) {
        sn->begin = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        sn->end = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    } else {
        rc = JOURNAL_ECORRUPT;
        pg_set_err(j->s, j->name, "the journal's catalog row is missing");
    }
    PQclear(r);
    return rc;
}

static int pg_snap_begin(journal *j, journal_snapshot **out)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_snapshot *sn = calloc(1, sizeof *sn);
    int rc;
    if (!sn)
        return -ENOMEM;
    sn->base.j = j;
    rc = pg_acquire(st, &sn->c);
    if (rc != 0)
        goto out_free;
    rc = pg_snap_start(sn, "");
    if (rc != 0)
        goto out_release;
    *out = &sn->base;
    return 0;
out_release:
    PQclear(PQexec(sn->c->pg, "ROLLBACK"));
    pg_release(st, sn->c);
out_free:
    free(sn);
    return rc;
}

static int pg_snap_bounds(journal_snapshot *snap, journal_pos *begin, journal_pos *end)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    if (!sn->c)
        return -EINVAL;
    *begin = sn->begin;
    *end = sn->end;
    return 0;
}

static int pg_snap_get(journal_snapshot *snap, journal_pos pos, const void **rec, size_t *len)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    journal *j = snap->j;
    struct pg_store *st = pg_store_of(j->s);
    char idb[8], posb[8];
    const char *vals[2] = {idb, posb};
    int lens[2] = {8, 8};
    PGresult *r;
    void *copy;
    size_t n;
    int rc;
    if (!sn->c)
        return -EINVAL;
    if (pos < sn->begin || pos >= sn->end)
        return JOURNAL_ENOTFOUND;
    pg_put64(idb, pg_id(j));
    pg_put64(posb, (int64_t)pos);
    rc = pg_run(st, sn->c, S_GET, vals, lens, &r);
    if (rc != 0)
        return rc;
    if (PQntuples(r) != 1) {
        PQclear(r);
        pg_set_err(j->s, j->name, "a record is missing within the bounds");
        return JOURNAL_ECORRUPT;
    }
    n = (size_t)PQgetlength(r, 0, 0);
    copy = pg_snap_alloc(sn, n);
    if (copy) {
        memcpy(copy, PQgetvalue(r, 0, 0), n);
        *rec = copy;
        *len = n;
    } else {
        rc = -ENOMEM;
    }
    PQclear(r);
    return rc;
}

/* Inside the snapshot's transaction, in chunks: each query sees the same
 * snapshot, and nothing needs cancelling when fn stops. */
static int pg_snap_range(journal_snapshot *snap, journal_pos from, journal_range_fn fn, void *arg)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    journal *j = snap->j;
    struct pg_store *st = pg_store_of(j->s);
    char idb[8], fromb[8], endb[8], limb[8];
    const char *vals[4] = {idb, fromb, endb, limb};
    int lens[4] = {8, 8, 8, 8};
    journal_pos pos = from, next = from;
    uint64_t delivered = 0;
    PGresult *r;
    int rc = 0, ret = 0;
    if (!sn->c)
        return -EINVAL;
    if (from < sn->begin || from >= sn->end)
        return JOURNAL_ENOTFOUND;
    pg_put64(idb, pg_id(j));
    pg_put64(endb, (int64_t)sn->end);
    pg_put64(limb, PG_CHUNK);
    while (ret == 0 && next < sn->end) {
        int n;
        pg_put64(fromb, (int64_t)next);
        rc = pg_run(st, sn->c, S_CHUNK, vals, lens, &r);
        if (rc != 0)
            break;
        n = PQntuples(r);
        for (int i = 0; i < n && ret == 0; i++) {
            ret = pg_deliver(r, i, 0, fn, arg, &pos);
            delivered++;
        }
        PQclear(r);
        if (n == 0) {
            rc = JOURNAL_ECORRUPT;
            pg_set_err(j->s, j->name, "a record is missing within the bounds");
            break;
        }
        next = pos + 1;
    }
    journal__count(&j->s->counters.range_records, delivered);
    return rc != 0 ? rc : ret < 0 ? ret : 0;
}

static int pg_snap_renew(journal_snapshot *snap)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    struct pg_store *st = pg_store_of(snap->j->s);
    int rc;
    if (!sn->c)
        return -EINVAL;
    pg_snap_clear(sn, 1);
    rc = pg_snap_start(sn, "ROLLBACK; ");
    if (rc != 0) {
        pg_conn_free(&st->base, sn->c);
        sn->c = NULL;
    }
    return rc;
}

static void pg_snap_end(journal_snapshot *snap)
{
    struct pg_snapshot *sn = (struct pg_snapshot *)snap;
    journal_store *s = snap->j->s;
    pg_snap_clear(sn, 0);
    if (sn->c && !journal__forked(s)) {
        PQclear(PQexec(sn->c->pg, "ROLLBACK"));
        pg_release(pg_store_of(s), sn->c);
    } else {
        pg_conn_free(s, sn->c);
    }
    free(sn);
}

/* ------------------------------------------------------------------ */
/* The store as a whole                                                 */

/* Runs fn(st, c, arg) inside a REPEATABLE READ read-only transaction on a
 * connection of the pool. */
static int pg_in_snapshot(struct pg_store *st, int (*fn)(struct pg_store *, struct pg_conn *, void *), void *arg)
{
    struct pg_conn *c;
    int rc = pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = pg_exec(&st->base, c->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, NULL);
    if (rc == 0) {
        rc = fn(st, c, arg);
        PQclear(PQexec(c->pg, "ROLLBACK"));
    }
    pg_release(st, c);
    return rc;
}

/* Durable already unless JOURNAL_NOSYNC; then a transaction that commits
 * with synchronous_commit on flushes the WAL, and with it every earlier
 * commit of the server. */
static int pg_store_sync(journal_store *s)
{
    struct pg_store *st = pg_store_of(s);
    struct pg_conn *c;
    int rc;
    if (!(s->flags & JOURNAL_NOSYNC))
        return 0;
    rc = pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = pg_exec(s, c->pg, "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT",
                 PGRES_COMMAND_OK, NULL);
    pg_release(st, c);
    return rc;
}

static int pg_store_list(journal_store *s, journal_list_fn fn, void *arg)
{
    struct pg_store *st = pg_store_of(s);
    struct pg_conn *c;
    PGresult *r;
    int rc = pg_acquire(st, &c);
    if (rc != 0)
        return rc;
    rc = pg_run(st, c, S_LIST, NULL, NULL, &r);
    /* fn may use the store: give the connection back first. */
    pg_release(st, c);
    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        /* libpq ends every value with a NUL, binary ones included. */
        int ret = fn(arg, PQgetvalue(r, i, 0), (journal_pos)pg_get64(r, i, 1), (journal_pos)pg_get64(r, i, 2));
        if (ret != 0) {
            rc = ret < 0 ? ret : 0;
            break;
        }
    }
    PQclear(r);
    return rc;
}

static int pg_stat_fn(struct pg_store *st, struct pg_conn *c, void *arg)
{
    journal_stat *out = arg;
    char sql[1024];
    PGresult *r;
    int rc;
    snprintf(sql, sizeof sql,
             "SELECT (SELECT value FROM %1$s.meta WHERE key = 'format'), current_setting('block_size'), "
             "pg_total_relation_size('%1$s.meta') + pg_total_relation_size('%1$s.journals') + "
             "pg_total_relation_size('%1$s.records'), "
             "(SELECT count(*) FROM %1$s.journals), (SELECT coalesce(sum(end_pos - begin_pos), 0) FROM %1$s.journals)",
             st->qschema);
    rc = pg_exec(&st->base, c->pg, sql, PGRES_TUPLES_OK, &r);
    if (rc != 0)
        return rc;
    out->format_version = (unsigned)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    out->page_size = (unsigned)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    out->file_size = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
    out->used_size = out->file_size;
    out->journals = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
    out->records = strtoull(PQgetvalue(r, 0, 4), NULL, 10);
    PQclear(r);
    return 0;
}

static int pg_store_stat(journal_store *s, journal_stat *st)
{
    return pg_in_snapshot(pg_store_of(s), pg_stat_fn, st);
}

struct pg_check_args {
    journal_check_fn fn;
    void *arg;
    int problems;
};

static void pg_problem(struct pg_check_args *a, const char *name, const char *problem)
{
    a->problems++;
    if (a->fn)
        a->fn(a->arg, name, problem);
}

static int pg_check_fn(struct pg_store *st, struct pg_conn *c, void *arg)
{
    struct pg_check_args *a = arg;
    char sql[768], msg[160];
    PGresult *r;
    int rc = pg_read_format(st, c->pg);
    if (rc == JOURNAL_EVERSION || rc == JOURNAL_ECORRUPT || rc == -ENOENT) {
        pg_problem(a, NULL, rc == JOURNAL_EVERSION ? "unknown format version" : "no format record");
        rc = 0;
    }
    if (rc != 0)
        return rc;
    /* Per journal: the bounds, the records inside them (positions are
     * unique, so a count of end - begin means no gap) and outside them. */
    snprintf(sql, sizeof sql,
             "SELECT j.name, j.begin_pos, j.end_pos, "
             "count(r.pos) FILTER (WHERE r.pos >= j.begin_pos AND r.pos < j.end_pos), "
             "count(r.pos) FILTER (WHERE r.pos < j.begin_pos OR r.pos >= j.end_pos) "
             "FROM %1$s.journals j LEFT JOIN %1$s.records r ON r.journal = j.id GROUP BY j.id ORDER BY j.name",
             st->qschema);
    /* In binary, so that names come as their bytes (libpq ends each value
     * with a NUL), not hex-escaped. */
    r = PQexecParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 1);
    rc = pg_check(&st->base, c->pg, r, PGRES_TUPLES_OK);
    if (rc != 0)
        return rc;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *name = PQgetvalue(r, i, 0);
        long long b = pg_get64(r, i, 1), e = pg_get64(r, i, 2), in = pg_get64(r, i, 3), out = pg_get64(r, i, 4);
        if (b < 0 || b > e) {
            snprintf(msg, sizeof msg, "bounds out of order: begin %lld, end %lld", b, e);
            pg_problem(a, name, msg);
        } else if (in != e - b) {
            snprintf(msg, sizeof msg, "%lld of the %lld records in [%lld, %lld) are missing", e - b - in, e - b, b, e);
            pg_problem(a, name, msg);
        }
        if (out > 0) {
            snprintf(msg, sizeof msg, "%lld records outside [%lld, %lld)", out, b, e);
            pg_problem(a, name, msg);
        }
    }
    PQclear(r);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM %1$s.records r WHERE NOT EXISTS (SELECT 1 FROM %1$s.journals j "
             "WHERE j.id = r.journal)",
             st->qschema);
    rc = pg_exec(&st->base, c->pg, sql, PGRES_TUPLES_OK, &r);
    if (rc != 0)
        return rc;
    if (strcmp(PQgetvalue(r, 0, 0), "0") != 0) {
        snprintf(msg, sizeof msg, "%s records of unknown journals", PQgetvalue(r, 0, 0));
        pg_problem(a, NULL, msg);
    }
    PQclear(r);
    return 0;
}

static int pg_store_check(journal_store *s, journal_check_fn fn, void *arg)
{
    struct pg_check_args a = {fn, arg, 0};
    int rc = pg_in_snapshot(pg_store_of(s), pg_check_fn, &a);
    if (rc == 0 && a.problems > 0)
        rc = JOURNAL_ECORRUPT;
    return rc;
}

/* Streams one table from src's COPY TO into dst's COPY FROM, in binary. */
static int pg_copy_table(journal_store *s, PGconn *src, const char *sschema, PGconn *dst, const char *dschema,
                         const char *table)
{
    char sql[512];
    char *buf;
    PGresult *r;
    int n, rc, dst_in, end_rc;
    snprintf(sql, sizeof sql, "COPY %s.%s TO STDOUT (FORMAT binary)", sschema, table);
    rc = pg_exec(s, src, sql, PGRES_COPY_OUT, NULL);
    if (rc != 0)
        return rc;
    snprintf(sql, sizeof sql, "COPY %s.%s FROM STDIN (FORMAT binary)", dschema, table);
    rc = pg_exec(s, dst, sql, PGRES_COPY_IN, NULL);
    dst_in = rc == 0;
    /* Read src to its end even when dst failed, so src stays usable. */
    while ((n = PQgetCopyData(src, &buf, 0)) > 0) {
        if (rc == 0 && PQputCopyData(dst, buf, n) != 1)
            rc = pg_check(s, dst, NULL, PGRES_COPY_IN);
        PQfreemem(buf);
    }
    end_rc = pg_done(s, src, PQgetResult(src), PGRES_COMMAND_OK);
    while ((r = PQgetResult(src)) != NULL)
        PQclear(r);
    if (rc == 0)
        rc = end_rc;
    if (dst_in) {
        PQputCopyEnd(dst, rc == 0 ? NULL : "the source failed");
        end_rc = pg_done(s, dst, PQgetResult(dst), PGRES_COMMAND_OK);
        while ((r = PQgetResult(dst)) != NULL)
            PQclear(r);
        if (rc == 0)
            rc = end_rc;
    }
    return rc;
}

/*
 * A copy goes to another schema, of this database or of any other server:
 * dest is a postgresql:// URL whose schema holds nothing yet. The source is
 * read in one REPEATABLE READ snapshot and streamed with COPY into one
 * transaction of the destination, which commits only when all of it is
 * there (so a failure leaves nothing behind).
 */
static int pg_store_copy(journal_store *s, const char *dest, unsigned flags)
{
    static const char *const tables[] = {"meta", "journals", "records"};
    struct pg_store *st = pg_store_of(s);
    struct pg_store *dst;
    struct pg_conn *src = NULL, *dc = NULL;
    char sql[512];
    int rc;
    (void)flags; /* nothing to compact: the copy holds only live rows */
    if (!journal__is_pg_url(dest)) {
        pg_set_err(s, dest, "a PostgreSQL store copies to a postgresql:// URL only");
        return -ENOTSUP;
    }
    dst = calloc(1, sizeof *dst);
    if (!dst)
        return -ENOMEM;
    pthread_mutex_init(&dst->mu, NULL);
    dst->base.flags = s->flags & ~JOURNAL_NOSYNC;
    dst->base.fork_gen = s->fork_gen;
    rc = pg_parse_url(dest, &dst->conninfo, dst->schema);
    if (rc != 0) {
        pg_set_err(s, dest, "journal_schema must be 1 to 63 letters, digits or _, not starting with a digit or pg_");
        goto out_free;
    }
    snprintf(dst->qschema, sizeof dst->qschema, "\"%s\"", dst->schema);
    rc = pg_connect(dst, &dc);
    if (rc != 0) {
        pg_err_store = s;
        goto out_free;
    }
    rc = pg_lock_schema(s, dc->pg, dst->schema);
    if (rc == 0)
        rc = pg_create_tables(s, dc->pg, dst->schema, dst->qschema);
    if (rc != 0)
        goto out_dst;
    rc = pg_acquire(st, &src);
    if (rc != 0)
        goto out_dst;
    rc = pg_exec(s, src->pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, NULL);
    for (size_t i = 0; rc == 0 && i < sizeof tables / sizeof tables[0]; i++) {
        rc = pg_copy_table(s, src->pg, st->qschema, dc->pg, dst->qschema, tables[i]);
    }
    PQclear(PQexec(src->pg, "ROLLBACK"));
    pg_release(st, src);
    if (rc != 0)
        goto out_dst;
    snprintf(sql, sizeof sql,
             "SELECT setval(pg_get_serial_sequence('%1$s.journals', 'id'), coalesce(max(id), 0) + 1, false) "
             "FROM %1$s.journals",
             dst->qschema);
    rc = pg_exec(s, dc->pg, sql, PGRES_TUPLES_OK, NULL);
    if (rc == 0)
        rc = pg_exec(s, dc->pg, "COMMIT", PGRES_COMMAND_OK, NULL);
out_dst:
    if (rc != 0 && PQstatus(dc->pg) == CONNECTION_OK)
        PQclear(PQexec(dc->pg, "ROLLBACK"));
    PQfinish(dc->pg);
    free(dc);
out_free:
    free(dst->conninfo);
    pthread_mutex_destroy(&dst->mu);
    free(dst);
    return rc;
}

static const struct journal__ops pg_ops = {
    .name = "postgresql",
    .store_close = pg_store_close,
    .store_sync = pg_store_sync,
    .store_list = pg_store_list,
    .store_copy = pg_store_copy,
    .store_stat = pg_store_stat,
    .store_check = pg_store_check,
    .open = pg_open,
    .close = pg_close,
    .bounds = pg_bounds,
    .get = pg_get,
    .range = pg_range,
    .append = pg_append,
    .truncate = pg_truncate,
    .wait = pg_wait,
    .snap_begin = pg_snap_begin,
    .snap_bounds = pg_snap_bounds,
    .snap_get = pg_snap_get,
    .snap_range = pg_snap_range,
    .snap_renew = pg_snap_renew,
    .snap_end = pg_snap_end,
};
