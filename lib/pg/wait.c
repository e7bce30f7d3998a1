/*
 * wait.c - journal_wait() on a PostgreSQL store: LISTEN/NOTIFY, with the
 * journal's advisory lock telling appends whether anyone listens.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"

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
 * (journal__pg_query() cancels it); the wait itself sleeps in poll().
 */
int journal__pg_wait(journal *j, journal_pos pos, int timeout_ms)
{
    struct pg_store *st = pg_store_of(j->s);
    struct pg_conn *c;
    char sql[512], prefix[24];
    int64_t deadline = timeout_ms > 0 ? journal__pg_now_ms() + timeout_ms : 0;
    size_t plen;
    journal_pos b, e = 0;
    PGresult *r[5] = {NULL};
    int rc = journal__pg_acquire(st, &c), clean;
    if (rc != 0)
        return rc;
    if (timeout_ms == 0) {
        rc = journal__pg_bounds_on(st, c, pg_id(j), &b, &e);
        if (rc == 0 && e <= pos)
            rc = -ETIMEDOUT;
        journal__pg_release(st, c);
        return rc;
    }
    snprintf(prefix, sizeof prefix, "%" PRId64 ":", pg_id(j));
    plen = strlen(prefix);
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_lock_shared(%2$d, %3$d); LISTEN %1$s; COMMIT; "
             "SELECT begin_pos, end_pos FROM %1$s.journals WHERE id = %4$" PRId64,
             st->qschema, st->lockkey, (int32_t)(pg_id(j) % 2147483648), pg_id(j));
    rc = journal__pg_query(j->s, c->pg, sql, deadline, r, 5);
    if (rc == 0)
        rc = journal__pg_bounds_row(j->s, j->name, r[4], &b, &e);
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
            journal__pg_set_err(j->s, j->name, "the server terminated the waiting session");
            break;
        }
        if (timeout_ms > 0) {
            int64_t left = deadline - journal__pg_now_ms();
            if (left <= 0) {
                rc = -ETIMEDOUT;
                break;
            }
            wait_ms = (int)left;
        }
        if (poll(&p, 1, wait_ms) < 0)
            rc = errno == EINTR ? -EINTR : -errno;
        else if (p.revents && !PQconsumeInput(c->pg))
            rc = journal__pg_check(j->s, c->pg, NULL, PGRES_COMMAND_OK);
    }
    /* The clean-up is sent, not waited for: the server runs it at once,
     * and the next taker of the connection reads its results (a failure
     * closes the connection, which releases the lock). A connection that
     * cannot take it never goes back to the pool. */
    clean = !c->doomed && PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE &&
            PQsendQuery(c->pg, "UNLISTEN *; SELECT pg_advisory_unlock_all()");
    c->pending = clean;
    if (clean)
        journal__pg_release(st, c);
    else
        journal__pg_conn_free(j->s, c);
    return rc;
}
