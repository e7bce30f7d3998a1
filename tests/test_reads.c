/*
 * test_reads.c - what the fast read paths must not lose: journal_bounds()
 * answers from what a handle saw last while nothing was committed (LMDB),
 * yet shows every append and truncation of every process and thread as
 * soon as that call has returned, and never goes back.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

TestSuite(reads, .init = tu_setup, .fini = tu_teardown, .timeout = 120);

/* ------------------------------------------------------------------------ */
/* Another process writes, this one reads at once                           */

#define ROUNDS 300

struct peer {
    const char *store;
    int cmd[2]; /* parent -> child: one byte per operation, 'a' or 't' */
    int ack[2]; /* child -> parent: the bounds after the call returned */
};

/* The child: performs each operation it is told, then reports the bounds
 * it left, only after the call has returned. */
static void peer_main(void *arg)
{
    struct peer *p = arg;
    journal_store *s = NULL;
    journal *j = NULL;
    journal_options o = {0};
    journal_pos b[2];
    char op;
    int rc;

    close(p->cmd[1]);
    close(p->ack[0]);
    o.flags = JOURNAL_NOSYNC;
    if ((rc = journal_store_open(p->store, &o, &s)) != 0 || (rc = journal_open(s, "j", &j)) != 0)
        tu_child_fail("open: %s", journal_strerror(rc));
    while (tu_read_all(p->cmd[0], &op, 1) == 0) {
        if ((rc = journal_bounds(j, &b[0], &b[1])) != 0)
            tu_child_fail("bounds: %s", journal_strerror(rc));
        if (op == 'a')
            rc = journal_append(j, b[1], "x", 1);
        else
            rc = journal_truncate(j, b[0] + 1);
        if (rc != 0)
            tu_child_fail("%c: %s", op, journal_strerror(rc));
        if ((rc = journal_bounds(j, &b[0], &b[1])) != 0)
            tu_child_fail("bounds after %c: %s", op, journal_strerror(rc));
        if (tu_write_all(p->ack[1], b, sizeof b) != 0)
            tu_child_fail("write ack");
    }
    journal_close(j);
    journal_store_close(s);
}

static void assert_bounds(journal *j, const journal_pos want[2], unsigned round, const char *who)
{
    journal_pos b = 0, e = 0;
    int rc = journal_bounds(j, &b, &e);
    cr_assert_eq(rc, 0, "round %u: %s", round, journal_strerror(rc));
    cr_assert(b == want[0] && e == want[1], "round %u (%s): bounds [%llu, %llu), the other process left [%llu, %llu)",
              round, who, (unsigned long long)b, (unsigned long long)e, (unsigned long long)want[0],
              (unsigned long long)want[1]);
}

Test(reads, bounds_show_each_append_and_truncation_of_another_process_as_soon_as_it_returns)
{
    struct peer p = {tu_store(), {-1, -1}, {-1, -1}};
    journal_store *s = tu_open_store(p.store, JOURNAL_NOSYNC);
    journal *watched = tu_open_journal(s, "j"), *idle = tu_open_journal(s, "j");
    journal_pos want[2];
    pid_t pid;

    tu_procs_init();
    cr_assert_eq(pipe(p.cmd), 0);
    cr_assert_eq(pipe(p.ack), 0);
    pid = tu_spawn(peer_main, &p);
    close(p.cmd[0]);
    close(p.ack[1]);
    for (unsigned r = 0; r < ROUNDS; r++) {
        /* Mostly appends, a truncation of one record now and then, so that
         * both ends move; `watched` looks before every operation (what it
         * saw is fresh), `idle` only now and then (what it saw is old). */
        char op = r % 5 == 4 ? 't' : 'a';
        journal_pos b, e;
        cr_assert_eq(journal_bounds(watched, &b, &e), 0);
        cr_assert_eq(tu_write_all(p.cmd[1], &op, 1), 0);
        tu_wait_readable(p.ack[0]);
        cr_assert_eq(tu_read_all(p.ack[0], want, sizeof want), 0);
        assert_bounds(watched, want, r, "watched");
        assert_bounds(watched, want, r, "watched, again");
        if (r % 7 == 0)
            assert_bounds(idle, want, r, "idle");
        cr_assert_eq(journal_is_empty(watched), want[0] == want[1]);
    }
    close(p.cmd[1]);
    tu_expect_exit_ok(pid, "the writing process");
    close(p.ack[0]);
    tu_procs_fini();
    journal_close(idle);
    journal_close(watched);
    journal_store_close(s);
}

/* ------------------------------------------------------------------------ */
/* Other threads write, readers share one handle                            */

#define THREAD_APPENDS 2000
#define THREAD_READERS 3

struct race {
    journal *shared;       /* the readers' handle */
    journal *writer;       /* the writer's own handle */
    atomic_ullong written; /* appends that have returned */
    atomic_int done;
    char failure[256];
    pthread_mutex_t mu;
};

static void race_fail(struct race *r, const char *fmt, unsigned long long a, unsigned long long b)
{
    pthread_mutex_lock(&r->mu);
    if (!r->failure[0])
        snprintf(r->failure, sizeof r->failure, fmt, a, b);
    pthread_mutex_unlock(&r->mu);
}

static void *race_writer(void *arg)
{
    struct race *r = arg;
    for (journal_pos i = 0; i < THREAD_APPENDS; i++) {
        int rc = journal_append(r->writer, i, "y", 1);
        if (rc != 0) {
            race_fail(r, "append at %llu: error %lld", i, (unsigned long long)(long long)rc);
            break;
        }
        atomic_store(&r->written, i + 1);
    }
    atomic_store(&r->done, 1);
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    journal_pos last = 0;
    int finished;
    do {
        /* Read what has surely returned first: bounds taken after it must
         * show at least that much, and never less than this thread saw. */
        unsigned long long seen = atomic_load(&r->written);
        journal_pos e;
        finished = atomic_load(&r->done);
        if (journal_bounds(r->shared, NULL, &e) != 0) {
            race_fail(r, "bounds failed (%llu, %llu)", seen, last);
            break;
        }
        if (e < seen)
            race_fail(r, "bounds end %llu after %llu appends had returned", e, seen);
        if (e < last)
            race_fail(r, "bounds end went back from %llu to %llu", last, e);
        last = e;
    } while (!finished);
    if (last != THREAD_APPENDS)
        race_fail(r, "the last bounds end %llu, not %llu", last, THREAD_APPENDS);
    return NULL;
}

Test(reads, bounds_through_a_shared_handle_show_other_threads_appends_at_once_and_never_go_back)
{
    journal_store *s = tu_open_store(tu_store(), JOURNAL_NOSYNC);
    struct race r = {.shared = tu_open_journal(s, "j"), .writer = tu_open_journal(s, "j")};
    pthread_t w, rd[THREAD_READERS];

    pthread_mutex_init(&r.mu, NULL);
    for (int i = 0; i < THREAD_READERS; i++)
        cr_assert_eq(pthread_create(&rd[i], NULL, race_reader, &r), 0);
    cr_assert_eq(pthread_create(&w, NULL, race_writer, &r), 0);
    pthread_join(w, NULL);
    for (int i = 0; i < THREAD_READERS; i++)
        pthread_join(rd[i], NULL);
    cr_assert(!r.failure[0], "%s", r.failure);
    pthread_mutex_destroy(&r.mu);
    journal_close(r.writer);
    journal_close(r.shared);
    journal_store_close(s);
}
