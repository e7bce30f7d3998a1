/*
 * error.c - the PostgreSQL backend's errors: the contract's code for what
 * the server, the connection or the system said, and the message of each
 * thread's last failure.
 */
#define _GNU_SOURCE /* strerror_r() returning the text */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "pg_int.h"

/* The message of the last failure in this thread, and the store it
 * belongs to (NULL for journal_store_open()). */
static _Thread_local const journal_store *pg_err_store;
static _Thread_local char pg_err_msg[512];

void journal__pg_set_err(const journal_store *s, const char *what, const char *msg)
{
    size_t n;
    pg_err_store = s;
    snprintf(pg_err_msg, sizeof pg_err_msg, "%s%s%s", what, *what ? ": " : "", msg ? msg : "");
    n = strlen(pg_err_msg);
    while (n > 0 && (pg_err_msg[n - 1] == '\n' || pg_err_msg[n - 1] == ' '))
        pg_err_msg[--n] = '\0';
}

void journal__pg_err_move(const journal_store *from, const journal_store *to)
{
    if (pg_err_store == from)
        pg_err_store = to;
}

const char *journal__pg_errmsg(const journal_store *s)
{
    return s == pg_err_store ? pg_err_msg : "";
}

int journal__pg_sqlstate_rc(const char *st)
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
     * is not (or no longer) a journal store. No statement of this backend
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
int journal__pg_connect_rc(PGconn *pg, int timed_out)
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
            rc = journal__pg_sqlstate_rc(st);
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
    int rc = journal__pg_sqlstate_rc(st);
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
int journal__pg_check(journal_store *s, PGconn *pg, PGresult *r, ExecStatusType want)
{
    int rc;
    if (r && PQresultStatus(r) == want)
        return 0;
    rc = pg_state_rc(pg, r);
    journal__pg_set_err(s, "", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    if (!*pg_err_msg)
        journal__pg_set_err(s, "", PQerrorMessage(pg));
    PQclear(r);
    return rc;
}

/* journal__pg_check() for a result nobody reads: cleared either way. */
int journal__pg_done(journal_store *s, PGconn *pg, PGresult *r, ExecStatusType want)
{
    int rc = journal__pg_check(s, pg, r, want);
    if (rc == 0)
        PQclear(r);
    return rc;
}
