/*
 * test_wait.c - journal_wait() with many waiters: every waiting thread of
 * every process wakes on one append, with no limit per waiter (the waiters
 * of a store handle share one notifier), and waiters that time out, are
 * interrupted or leave hand the sleeping over to the others. Make
 * test-wait WAIT=poll runs these (and journal_wait()'s tests in
 * test_journal.c) on the portable fallback that polls.
 */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TestSuite(wait, .init = tu_setup, .fini = tu_teardown, .timeout = 120);

/* Longest any waiter waits: far beyond the test's own pace, so that a
 * waiter that returns at all before the append shows a defect. */
#define WAIT_LONG_MS 60000
#define PARENT_WAITERS 1000
#define CHILDREN 4
#define CHILD_WAITERS 200

/* Valgrind runs one thread at a time, slowly: a tenth of the crowd. */
static int crowd_size(int n)
{
    return getenv("JOURNAL_TEST_VALGRIND") ? n / 10 : n;
}

struct crowd {
    journal_store *s;
    journal *shared; /* half the waiters share this handle */
    journal_pos pos;
    atomic_int started;
    atomic_int returned;
    atomic_int failed;
    atomic_int first_rc;
};

struct waiter {
    struct crowd *c;
    int own; /* opens a journal handle of its own */
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    struct crowd *c = w->c;
    journal *j = c->shared;
    int rc = 0, zero = 0;

    if (w->own)
        rc = journal_open(c->s, "j", &j);
    atomic_fetch_add(&c->started, 1);
    if (rc == 0)
        rc = journal_wait(j, c->pos, WAIT_LONG_MS);
    atomic_fetch_add(&c->returned, 1);
    if (rc != 0) {
        atomic_fetch_add(&c->failed, 1);
        atomic_compare_exchange_strong(&c->first_rc, &zero, rc);
    }
    if (w->own && j)
        journal_close(j);
    return NULL;
}

/* Starts n waiter threads on small stacks. */
static pthread_t *start_waiters(struct crowd *c, struct waiter *ws, int n)
{
    pthread_t *t = calloc((size_t)n, sizeof *t);
    pthread_attr_t attr;
    if (!t)
        return NULL;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < n; i++) {
        ws[i].c = c;
        ws[i].own = i % 2;
        if (pthread_create(&t[i], &attr, waiter_main, &ws[i]) != 0) {
            pthread_attr_destroy(&attr);
            free(t);
            return NULL;
        }
    }
    pthread_attr_destroy(&attr);
    return t;
}

/* Sleeps ms milliseconds: here only to give started threads time to go to
 * sleep in journal_wait(), never to wait for a result. */
static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

struct child_arg {
    const char *path;
    journal_pos pos;
    int ready; /* write end: one byte once every waiter has started */
    int go;    /* read end: closed by the parent when it has appended */
};

/* A process of CHILD_WAITERS waiters on a store handle of its own. */
static void child_crowd(void *arg)
{
    struct child_arg *a = arg;
    struct crowd c = {.pos = a->pos};
    struct waiter ws[CHILD_WAITERS];
    pthread_t *t;
    int n = crowd_size(CHILD_WAITERS), rc = journal_store_open(a->path, NULL, &c.s);

    if (rc != 0 || (rc = journal_open(c.s, "j", &c.shared)) != 0)
        tu_child_fail("open: %s", journal_strerror(rc));
    t = start_waiters(&c, ws, n);
    if (!t)
        tu_child_fail("pthread_create");
    while (atomic_load(&c.started) < n)
        sched_yield();
    pause_ms(200);
    if (atomic_load(&c.returned) != 0)
        tu_child_fail("%d waiters returned before the append (the first with %s)", atomic_load(&c.returned),
                      journal_strerror(atomic_load(&c.first_rc)));
    if (tu_write_all(a->ready, "r", 1) != 0)
        tu_child_fail("ready pipe");
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    free(t);
    if (atomic_load(&c.failed) != 0)
        tu_child_fail("%d of %d waiters failed, the first with %s", atomic_load(&c.failed), n,
                      journal_strerror(atomic_load(&c.first_rc)));
    journal_close(c.shared);
    if ((rc = journal_store_close(c.s)) != 0)
        tu_child_fail("store close: %s", journal_strerror(rc));
}

Test(wait, one_append_wakes_a_thousand_threads_and_four_processes_of_two_hundred)
{
    const char *path = tu_store();
    struct crowd c = {0};
    struct waiter *ws = calloc(PARENT_WAITERS, sizeof *ws);
    struct child_arg a[CHILDREN];
    pid_t pid[CHILDREN];
    pthread_t *t;
    int ready[2], n = crowd_size(PARENT_WAITERS);
    char byte;

    /* On PostgreSQL each waiter holds a connection of its own: a thousand
     * are beyond the test server's max_connections. */
    tu_require_lmdb();
    cr_assert_not_null(ws);
    tu_procs_init();
    c.s = tu_open_store(path, 0);
    c.shared = tu_open_journal(c.s, "j");
    cr_assert_eq(journal_append(c.shared, 0, "a", 1), 0);
    c.pos = 1;
    cr_assert_eq(pipe(ready), 0);
    for (int i = 0; i < CHILDREN; i++) {
        a[i] = (struct child_arg){path, 1, ready[1], -1};
        pid[i] = tu_spawn(child_crowd, &a[i]);
    }
    close(ready[1]);
    t = start_waiters(&c, ws, n);
    cr_assert_not_null(t, "pthread_create");
    for (int i = 0; i < CHILDREN; i++) {
        tu_wait_readable(ready[0]);
        cr_assert_eq(tu_read_all(ready[0], &byte, 1), 0, "a child did not start: %s", tu_child_errors());
    }
    while (atomic_load(&c.started) < n)
        sched_yield();
    pause_ms(200);
    cr_assert_eq(atomic_load(&c.returned), 0, "%d waiters returned before the append (the first with %s)",
                 atomic_load(&c.returned), journal_strerror(atomic_load(&c.first_rc)));

    cr_assert_eq(journal_append(c.shared, 1, "b", 1), 0);

    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&c.failed), 0, "%d of %d waiters failed, the first with %s", atomic_load(&c.failed), n,
                 journal_strerror(atomic_load(&c.first_rc)));
    for (int i = 0; i < CHILDREN; i++)
        tu_expect_exit_ok(pid[i], "a process of waiters");
    close(ready[0]);
    free(t);
    free(ws);
    journal_close(c.shared);
    cr_assert_eq(journal_store_close(c.s), 0);
    tu_procs_fini();
}

/* ------------------------------------------------------------------------ */
/* Waiters that leave                                                       */

struct short_waiter {
    journal *j;
    int timeout_ms;
    int rc;
};

static void *short_main(void *arg)
{
    struct short_waiter *w = arg;
    w->rc = journal_wait(w->j, 1, w->timeout_ms);
    return NULL;
}

/*
 * Waiters with short timeouts leave one after the other, the thread that
 * sleeps for all of them among them: the long waiters that stay must still
 * wake on the append that comes after they all left.
 */
Test(wait, waiters_that_time_out_leave_the_others_waiting_and_woken)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct short_waiter w[16];
    pthread_t t[16];

    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    for (int i = 0; i < 16; i++) {
        /* Even ones leave after 20 to 160 ms, odd ones stay. */
        w[i] = (struct short_waiter){j, i % 2 ? WAIT_LONG_MS : 20 + 10 * i, 1};
        cr_assert_eq(pthread_create(&t[i], NULL, short_main, &w[i]), 0);
    }
    /* Nothing is appended before every short waiter has left. */
    for (int i = 0; i < 16; i += 2) {
        pthread_join(t[i], NULL);
        cr_expect_eq(w[i].rc, -ETIMEDOUT, "short waiter %d: %s", i, journal_strerror(w[i].rc));
    }
    for (int i = 1; i < 16; i += 2)
        cr_expect_eq(w[i].rc, 1, "long waiter %d returned %d with nothing appended", i, w[i].rc);
    cr_assert_eq(journal_append(j, 1, "b", 1), 0);
    for (int i = 1; i < 16; i += 2) {
        pthread_join(t[i], NULL);
        cr_expect_eq(w[i].rc, 0, "long waiter %d: %s", i, journal_strerror(w[i].rc));
    }
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* Waiters on several journals of one store: an append to one wakes its
 * waiters only, the others go on waiting until theirs comes. */
Test(wait, an_append_wakes_the_waiters_of_its_journal_only)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *ja = tu_open_journal(s, "a"), *jb = tu_open_journal(s, "b");
    struct short_waiter wa[8], wb[8];
    pthread_t ta[8], tb[8];

    for (int i = 0; i < 8; i++) {
        wa[i] = (struct short_waiter){ja, WAIT_LONG_MS, 1};
        wb[i] = (struct short_waiter){jb, WAIT_LONG_MS, 1};
        cr_assert_eq(pthread_create(&ta[i], NULL, short_main, &wa[i]), 0);
        cr_assert_eq(pthread_create(&tb[i], NULL, short_main, &wb[i]), 0);
    }
    /* Positions 0 and 1: the waiters wait for position 1. */
    cr_assert_eq(journal_append(ja, 0, "x", 1), 0);
    cr_assert_eq(journal_append(ja, 1, "y", 1), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(ta[i], NULL);
        cr_expect_eq(wa[i].rc, 0, "waiter %d of a: %s", i, journal_strerror(wa[i].rc));
    }
    pause_ms(100);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(wb[i].rc, 1, "waiter %d of b returned %d with nothing appended to b", i, wb[i].rc);
    cr_assert_eq(journal_append(jb, 0, "x", 1), 0);
    cr_assert_eq(journal_append(jb, 1, "y", 1), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(tb[i], NULL);
        cr_expect_eq(wb[i].rc, 0, "waiter %d of b: %s", i, journal_strerror(wb[i].rc));
    }
    journal_close(ja);
    journal_close(jb);
    cr_assert_eq(journal_store_close(s), 0);
}
