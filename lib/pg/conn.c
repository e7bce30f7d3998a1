/*
 * conn.c - the PostgreSQL backend's connections: made without blocking in
 * libpq, pooled per store, checked when taken from the pool; and the
 * statements run on them (prepared once per connection, or SQL text).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pg_int.h"

#define PG_IDLE_MAX 32   /* idle connections kept per store */
#define PG_IDLE_MS 60000 /* an idle connection unused this long is closed */

int64_t journal__pg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Frees a connection. In a child after fork() the socket is the parent's:
 * it is replaced by /dev/null first, so that the goodbye libpq sends goes
 * nowhere. */
void journal__pg_conn_free(journal_store *s, struct pg_conn *c)
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

static void pg_conn_free_list(journal_store *s, struct pg_conn *c)
{
    while (c) {
        struct pg_conn *next = c->next;
        journal__pg_conn_free(s, c);
        c = next;
    }
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
 * server's errors verbosely (with their SQLSTATE, see journal__pg_connect_rc()).
 * connect_timeout is applied here, to each host tried, as libpq does.
 */
int journal__pg_connect(struct pg_store *st, struct pg_conn **out)
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
                deadline = journal__pg_now_ms() + timeout;
            }
            wait_ms = (int)(deadline - journal__pg_now_ms());
            if (wait_ms <= 0) {
                timed_out = 1;
                break;
            }
        }
        n = p.fd < 0 ? 1 : poll(&p, 1, wait_ms);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            journal__pg_set_err(&st->base, "connect", strerror(errno));
            goto out_finish;
        }
        if (n > 0)
            ps = PQconnectPoll(c->pg);
    }
    if (timed_out || PQstatus(c->pg) != CONNECTION_OK) {
        rc = journal__pg_connect_rc(c->pg, timed_out);
        journal__pg_set_err(&st->base, "connect", timed_out ? "timeout expired" : PQerrorMessage(c->pg));
        goto out_finish;
    }
    PQsetErrorVerbosity(c->pg, PQERRORS_DEFAULT);
    PQsetNoticeReceiver(c->pg, pg_on_notice, c);
    if (st->base.flags & JOURNAL_NOSYNC) {
        rc = journal__pg_done(&st->base, c->pg, PQexec(c->pg, "SET synchronous_commit = off"), PGRES_COMMAND_OK);
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
int journal__pg_acquire(struct pg_store *st, struct pg_conn **out)
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
            return journal__pg_connect(st, out);
        if (pg_conn_alive(c)) {
            c->next = NULL;
            *out = c;
            return 0;
        }
        journal__pg_conn_free(&st->base, c);
    }
}

/* Gives a connection back: kept when it is healthy, outside any
 * transaction and the pool has room; closed otherwise. The pool is a
 * stack, most recently used first, so it grows to the number of calls
 * running at once (up to PG_IDLE_MAX) and the connections a burst left
 * behind sink to its bottom, where they are closed once unused for
 * PG_IDLE_MS. */
void journal__pg_release(struct pg_store *st, struct pg_conn *c)
{
    struct pg_conn *stale = NULL;
    if (!c)
        return;
    if (PQstatus(c->pg) == CONNECTION_OK && (PQtransactionStatus(c->pg) == PQTRANS_IDLE || c->pending)) {
        int64_t now = journal__pg_now_ms();
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
    journal__pg_conn_free(&st->base, c);
    pg_conn_free_list(&st->base, stale);
}

void journal__pg_pool_close(struct pg_store *st)
{
    pg_conn_free_list(&st->base, st->idle);
    st->idle = NULL;
    st->nidle = 0;
}

/* Prepares statement k on c, once per connection; its name is "j<k>". */
static int pg_prepare(struct pg_store *st, struct pg_conn *c, enum pg_stmt k, char name[8])
{
    int rc;
    snprintf(name, 8, "j%d", (int)k);
    if (c->prepared & 1u << k)
        return 0;
    rc = journal__pg_done(&st->base, c->pg,
                          PQprepare(c->pg, name, st->sql[k], journal__pg_stmts[k].nparams, journal__pg_stmts[k].types),
                          PGRES_COMMAND_OK);
    if (rc == 0)
        c->prepared |= 1u << k;
    return rc;
}

static const int pg_binary[5] = {1, 1, 1, 1, 1};

int journal__pg_run(struct pg_store *st, struct pg_conn *c, enum pg_stmt k, const char *const *vals, const int *lens,
                    PGresult **out)
{
    char name[8];
    int rc = pg_prepare(st, c, k, name);
    if (rc != 0)
        return rc;
    *out = PQexecPrepared(c->pg, name, journal__pg_stmts[k].nparams, vals, lens, pg_binary, 1);
    rc = journal__pg_check(&st->base, c->pg, *out, PGRES_TUPLES_OK);
    if (rc != 0)
        *out = NULL;
    return rc;
}

int journal__pg_send(struct pg_store *st, struct pg_conn *c, enum pg_stmt k, const char *const *vals, const int *lens)
{
    char name[8];
    int rc = pg_prepare(st, c, k, name);
    if (rc != 0)
        return rc;
    if (!PQsendQueryPrepared(c->pg, name, journal__pg_stmts[k].nparams, vals, lens, pg_binary, 1))
        return journal__pg_check(&st->base, c->pg, NULL, PGRES_TUPLES_OK);
    return 0;
}

int journal__pg_exec(journal_store *s, PGconn *pg, const char *sql, ExecStatusType want, PGresult **out)
{
    PGresult *r = PQexec(pg, sql);
    int rc = journal__pg_check(s, pg, r, want);
    if (rc == 0 && out)
        *out = r;
    else if (rc == 0)
        PQclear(r);
    return rc;
}

/*
 * Sends sql (maybe several statements) and reads every result, keeping
 * the first nres in res[] (the caller clears them). Returns the error of
 * the first statement that failed; PostgreSQL skips the ones after it.
 * With a deadline (journal__pg_now_ms() time, 0 for none), a statement still
 * running then is cancelled and the call gives -ETIMEDOUT; the
 * connection stays usable (outside the transaction when sql opened one,
 * which is rolled back).
 */
int journal__pg_query(journal_store *s, PGconn *pg, const char *sql, int64_t deadline, PGresult **res, int nres)
{
    PGresult *r;
    int rc = 0, n = 0, cancelled = 0;
    if (!PQsendQuery(pg, sql))
        return journal__pg_check(s, pg, NULL, PGRES_COMMAND_OK);
    for (;;) {
        while (PQisBusy(pg)) {
            struct pollfd p = {.fd = PQsocket(pg), .events = POLLIN};
            int wait_ms = -1, k;
            if (deadline > 0 && !cancelled) {
                int64_t left = deadline - journal__pg_now_ms();
                wait_ms = left > 0 ? (int)left : 0;
            }
            k = poll(&p, 1, wait_ms);
            if (k < 0 && errno != EINTR) {
                rc = -errno;
                journal__pg_set_err(s, "poll", strerror(errno));
                goto out;
            }
            if (k == 0 && !cancelled) {
                journal__pg_cancel(pg);
                cancelled = 1;
            }
            if (k > 0 && !PQconsumeInput(pg)) {
                rc = journal__pg_check(s, pg, NULL, PGRES_COMMAND_OK);
                goto out;
            }
        }
        r = PQgetResult(pg);
        if (!r)
            break;
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = journal__pg_check(s, pg, r, PGRES_COMMAND_OK);
            continue;
        }
        if (n < nres)
            res[n++] = r;
        else
            PQclear(r);
    }
    if (cancelled && (rc == 0 || rc == -ECANCELED)) {
        rc = -ETIMEDOUT;
        journal__pg_set_err(s, "", "the deadline passed");
    }
    if (rc == 0 || PQtransactionStatus(pg) != PQTRANS_INERROR)
        goto out;
    journal__pg_rollback(pg);
out:
    if (rc != 0) {
        while (n > 0)
            PQclear(res[--n]), res[n] = NULL;
    }
    return rc;
}

void journal__pg_cancel(PGconn *pg)
{
    PGcancel *cancel = PQgetCancel(pg);
    char buf[256];
    if (cancel) {
        PQcancel(cancel, buf, sizeof buf);
        PQfreeCancel(cancel);
    }
}

void journal__pg_rollback(PGconn *pg)
{
    PQclear(PQexec(pg, "ROLLBACK"));
}
