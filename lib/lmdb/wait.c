/*
 * wait.c - journal_wait() on LMDB stores: all the waiters of a store
 * handle share one notifier (wait.h), so the system's limits on
 * notification instances count store handles, not waiting threads.
 *
 * One waiting thread at a time, the sleeper, sleeps on the notifier; the
 * others sleep on a condition variable. Each time the sleeper wakes for a
 * change it bumps the store's wait generation and wakes them all; each
 * waiter checks its journal's bounds whenever the generation moved since
 * its last check. The notifier watches from its creation on, before the
 * first waiter's check under it, so a commit after any check moves the
 * generation (the sleeper's event queues up while it checks). When the
 * sleeper leaves, it wakes the others so that one of them takes its place.
 *
 * The first waiter to arrive opens the notifier and the last to leave
 * closes it, so that a handle nobody waits on holds no instance and no
 * queue of events.
 *
 * Without a notifier (a platform without one, or Linux's inotify limits
 * reached) the sleeper polls the id of the last visible transaction, in
 * sleeps that double from 1 ms to WAIT_POLL_MAX_MS while nothing changes.
 */
#include <errno.h>
#include <time.h>

#include "lmdb_int.h"
#include "../wait.h"

/* After a change that brought no record, look again this much later: LMDB
 * writes the data file just before a commit becomes visible, and a writer
 * that died between its commit and its touch of the file would otherwise
 * leave waiters asleep past a visible record while the store stays quiet. */
#define WAIT_SETTLE_MS 10
#define WAIT_POLL_MAX_MS 32

enum { NOTIFY_UNTRIED, NOTIFY_ON, NOTIFY_POLL };

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void journal__lmdb_waiters_init(struct lmdb_store *ls)
{
    pthread_condattr_t attr;
    pthread_mutex_init(&ls->wait_mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ls->wait_cv, &attr);
    pthread_condattr_destroy(&attr);
}

void journal__lmdb_waiters_fini(struct lmdb_store *ls, int forked)
{
    journal__notifier_close(ls->notifier);
    ls->notifier = NULL;
    if (!forked) {
        pthread_cond_destroy(&ls->wait_cv);
        pthread_mutex_destroy(&ls->wait_mu);
    }
}

/* The id of the latest visible transaction: what a read would see. */
static int visible_txnid(struct lmdb_store *ls, uint64_t *id)
{
    MDB_txn *txn;
    int rc = journal__lmdb_read_begin(ls, &txn);
    if (rc == 0) {
        *id = mdb_txn_id(txn);
        journal__lmdb_read_end(ls, txn);
    }
    return rc;
}

/* The sleeper's sleep without a notifier: 1 when the visible transaction
 * changed, 0 after timeout_ms (-1: never) without a change. */
static int poll_sleep(struct lmdb_store *ls, int timeout_ms)
{
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    uint64_t id;
    int rc;

    for (;;) {
        int64_t step = ls->poll_ms;
        struct timespec ts;
        if ((rc = visible_txnid(ls, &id)) != 0)
            return rc;
        if (id != ls->poll_txnid) {
            ls->poll_txnid = id;
            ls->poll_ms = 1;
            return 1;
        }
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return 0;
            if (left < step)
                step = left;
        }
        ts.tv_sec = step / 1000;
        ts.tv_nsec = (long)(step % 1000) * 1000000;
        if (nanosleep(&ts, NULL) != 0)
            return -errno;
        if (ls->poll_ms < WAIT_POLL_MAX_MS)
            ls->poll_ms *= 2;
    }
}

/* Sleeps as the sleeper, without wait_mu. */
static int sleep_once(struct lmdb_store *ls, int timeout_ms)
{
    if (ls->notify_state == NOTIFY_ON)
        return journal__notifier_sleep(ls->notifier, timeout_ms);
    return poll_sleep(ls, timeout_ms);
}

/* Under wait_mu: the first waiter opens the notifier, or settles for
 * polling. */
static void notifier_start(struct lmdb_store *ls)
{
    if (ls->nwaiters++ > 0)
        return;
    if (journal__notifier_open(ls->datafile, &ls->notifier) == 0) {
        ls->notify_state = NOTIFY_ON;
        return;
    }
    ls->notifier = NULL;
    ls->notify_state = NOTIFY_POLL;
    ls->poll_ms = 1;
    if (visible_txnid(ls, &ls->poll_txnid) != 0)
        ls->poll_txnid = 0; /* the first poll then reports a change */
}

/* Under wait_mu: the last waiter closes the notifier; the next one to come
 * tries it again (inotify instances may have been freed meanwhile). */
static void notifier_stop(struct lmdb_store *ls)
{
    if (--ls->nwaiters > 0)
        return;
    journal__notifier_close(ls->notifier);
    ls->notifier = NULL;
    ls->notify_state = NOTIFY_UNTRIED;
}

static void timespec_at(struct timespec *ts, int64_t ms)
{
    ts->tv_sec = ms / 1000;
    ts->tv_nsec = (long)(ms % 1000) * 1000000;
}

int journal__lmdb_wait(journal *j, journal_pos pos, int timeout_ms)
{
    struct lmdb_store *ls = lmdb_store_of(j->s);
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    uint64_t seen = 0;
    journal_pos begin, end;
    int rc, check = 1, settle = 0;

    rc = journal__lmdb_bounds(j, &begin, &end);
    if (rc != 0 || end > pos)
        return rc;
    if (timeout_ms == 0)
        return -ETIMEDOUT;

    pthread_mutex_lock(&ls->wait_mu);
    notifier_start(ls);
    for (;;) {
        int64_t wake, now;
        if (check || seen != ls->wait_gen) {
            /* settle: this check follows a change; if it finds nothing,
             * look once more a little later. */
            settle = !check || settle;
            check = 0;
            seen = ls->wait_gen;
            pthread_mutex_unlock(&ls->wait_mu);
            rc = journal__lmdb_bounds(j, &begin, &end);
            pthread_mutex_lock(&ls->wait_mu);
            if (rc != 0 || end > pos)
                break;
            continue;
        }
        now = now_ms();
        if (deadline >= 0 && now >= deadline) {
            rc = -ETIMEDOUT;
            break;
        }
        wake = deadline;
        if (settle && (wake < 0 || now + WAIT_SETTLE_MS < wake))
            wake = now + WAIT_SETTLE_MS;
        if (!ls->sleeping) {
            int64_t span = wake < 0 ? -1 : wake - now;
            ls->sleeping = 1;
            pthread_mutex_unlock(&ls->wait_mu);
            rc = sleep_once(ls, span > 1000000000 ? 1000000000 : (int)span);
            pthread_mutex_lock(&ls->wait_mu);
            ls->sleeping = 0;
            if (rc > 0)
                ls->wait_gen++;
            /* A change for the others to check, or the place of the
             * sleeper free for one of them. */
            pthread_cond_broadcast(&ls->wait_cv);
            if (rc < 0)
                break;
            if (rc == 0 && settle) {
                settle = 0;
                check = 1;
            }
        } else {
            struct timespec ts;
            int w;
            if (wake < 0) {
                w = pthread_cond_wait(&ls->wait_cv, &ls->wait_mu);
            } else {
                timespec_at(&ts, wake);
                w = pthread_cond_timedwait(&ls->wait_cv, &ls->wait_mu, &ts);
            }
            if (w == ETIMEDOUT && settle) {
                settle = 0;
                check = 1;
            }
        }
    }
    notifier_stop(ls);
    pthread_mutex_unlock(&ls->wait_mu);
    return rc;
}
