/*
 * test_fork.c - handles after fork(): in the child, every call on an
 * inherited store, journal or snapshot handle returns JOURNAL_EFORK and
 * touches nothing, closing them only frees memory, and the child may open
 * the store again itself; the parent's handles, its open snapshot and that
 * snapshot's reader slot included, keep working.
 *
 * The child reports each mismatch as a line on a pipe; the parent asserts
 * that there is none (Criterion's asserts belong to the test process).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

#define FORK_RECORDS 40
#define FORK_LEN 3000

TestSuite(fork, .init = tu_setup, .fini = tu_teardown);

static char fork_report[8192];

static void fork_fail(const char *fmt, ...)
{
    size_t used = strlen(fork_report);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(fork_report + used, sizeof fork_report - used, fmt, ap);
    va_end(ap);
}

/* In the child: record a mismatch of one call's result. */
#define FORK_EXPECT(call, want)                                                                                        \
    do {                                                                                                               \
        int fork_rc_ = (call);                                                                                         \
        if (fork_rc_ != (want))                                                                                        \
            fork_fail("%s = %d (%s), want %d\n", #call, fork_rc_, journal_strerror(fork_rc_), (int)(want));            \
    } while (0)

static void fork_fill(unsigned char *buf, journal_pos pos, unsigned char salt)
{
    for (size_t i = 0; i < FORK_LEN; i++)
        buf[i] = (unsigned char)(pos * 7 + i + salt);
}

static int fork_same(const void *rec, size_t len, journal_pos pos, unsigned char salt)
{
    unsigned char want[FORK_LEN];
    fork_fill(want, pos, salt);
    return len == FORK_LEN && memcmp(rec, want, FORK_LEN) == 0;
}

static int fork_never_called;

static int fork_range_fn(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)arg;
    (void)pos;
    (void)rec;
    (void)len;
    fork_never_called++;
    return 0;
}

static int fork_list_fn(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    (void)arg;
    (void)name;
    (void)begin;
    (void)end;
    fork_never_called++;
    return 0;
}

static int fork_cmp(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)arg;
    (void)rec;
    (void)len;
    fork_never_called++;
    return (int)pos;
}

static int fork_resolve(void *arg, journal_pos end, const void **rec, size_t *len)
{
    (void)arg;
    (void)end;
    (void)rec;
    (void)len;
    fork_never_called++;
    return 0;
}

/* Every call on inherited handles, in the child. */
static void fork_child_inherited(journal_store *s, journal *j, journal_snapshot *snap, const char *copy)
{
    unsigned char rec[FORK_LEN] = {0};
    journal_record recs[2] = {{rec, 1}, {rec, 2}};
    journal_pos b = 77, e = 77, pos = 77;
    journal_stat st;
    journal *j2 = NULL;
    journal_snapshot *snap2 = NULL;
    const void *p = NULL;
    void *got = NULL;
    size_t len = 0;
    struct stat sb;

    FORK_EXPECT(journal_store_sync(s), JOURNAL_EFORK);
    FORK_EXPECT(journal_store_list(s, fork_list_fn, NULL), JOURNAL_EFORK);
    FORK_EXPECT(journal_store_copy(s, copy, 0), JOURNAL_EFORK);
    if (stat(copy, &sb) == 0)
        fork_fail("journal_store_copy() in the child created %s\n", copy);
    FORK_EXPECT(journal_store_stat(s, &st), JOURNAL_EFORK);
    FORK_EXPECT(journal_store_check(s, NULL, NULL), JOURNAL_EFORK);
    FORK_EXPECT(journal_open(s, "j", &j2), JOURNAL_EFORK);
    FORK_EXPECT(journal_open(s, "new", &j2), JOURNAL_EFORK);
    if (j2)
        fork_fail("journal_open() in the child set its handle\n");

    FORK_EXPECT(journal_bounds(j, &b, &e), JOURNAL_EFORK);
    if (b != 77 || e != 77)
        fork_fail("journal_bounds() in the child set the bounds\n");
    FORK_EXPECT(journal_get(j, 0, &got, &len), JOURNAL_EFORK);
    if (got)
        fork_fail("journal_get() in the child set *rec\n");
    FORK_EXPECT(journal_range(j, 0, fork_range_fn, NULL), JOURNAL_EFORK);
    FORK_EXPECT(journal_append(j, FORK_RECORDS, rec, sizeof rec), JOURNAL_EFORK);
    FORK_EXPECT(journal_append(j, 0, rec, sizeof rec), JOURNAL_EFORK);
    FORK_EXPECT(journal_append_batch(j, FORK_RECORDS, recs, 2), JOURNAL_EFORK);
    FORK_EXPECT(journal_truncate(j, 5), JOURNAL_EFORK);
    FORK_EXPECT(journal_wait(j, 0, 0), JOURNAL_EFORK);
    FORK_EXPECT(journal_first(j, &pos, &got, &len), JOURNAL_EFORK);
    FORK_EXPECT(journal_last(j, &pos, &got, &len), JOURNAL_EFORK);
    FORK_EXPECT(journal_search(j, 0, JOURNAL_POS_MAX, fork_cmp, NULL, &pos), JOURNAL_EFORK);
    FORK_EXPECT(journal_lower_bound(j, 0, JOURNAL_POS_MAX, fork_cmp, NULL, &pos), JOURNAL_EFORK);
    FORK_EXPECT(journal_append_retry(j, 0, rec, sizeof rec, fork_resolve, NULL, &pos), JOURNAL_EFORK);
    FORK_EXPECT(journal_is_fresh(j), JOURNAL_EFORK);
    FORK_EXPECT(journal_is_empty(j), JOURNAL_EFORK);
    FORK_EXPECT(journal_snapshot_begin(j, &snap2), JOURNAL_EFORK);
    if (snap2)
        fork_fail("journal_snapshot_begin() in the child set its handle\n");
    if (pos != 77)
        fork_fail("a call in the child set *pos\n");

    FORK_EXPECT(journal_snapshot_bounds(snap, &b, &e), JOURNAL_EFORK);
    FORK_EXPECT(journal_snapshot_get(snap, 0, &p, &len), JOURNAL_EFORK);
    if (p)
        fork_fail("journal_snapshot_get() in the child set *rec\n");
    FORK_EXPECT(journal_snapshot_range(snap, 0, fork_range_fn, NULL), JOURNAL_EFORK);
    FORK_EXPECT(journal_snapshot_renew(snap), JOURNAL_EFORK);
    if (fork_never_called)
        fork_fail("a callback ran %d times in the child\n", fork_never_called);

    /* These only free the child's memory: the parent's snapshot keeps its
     * reader slot, which the parent checks after the child is gone. */
    journal_snapshot_end(snap);
    FORK_EXPECT(journal_close(j), 0);
    FORK_EXPECT(journal_store_close(s), 0);
}

/* In the child: open the store anew, read the parent's records, append. */
static void fork_child_own(const char *path)
{
    journal_store *s = NULL;
    journal *j = NULL;
    journal_pos b = 0, e = 0;
    unsigned char rec[FORK_LEN];

    FORK_EXPECT(journal_store_open(path, NULL, &s), 0);
    if (!s)
        return;
    FORK_EXPECT(journal_open(s, "j", &j), 0);
    if (j) {
        FORK_EXPECT(journal_bounds(j, &b, &e), 0);
        if (b != 0 || e != FORK_RECORDS)
            fork_fail("the child sees [%llu, %llu)\n", (unsigned long long)b, (unsigned long long)e);
        for (journal_pos pos = 0; pos < FORK_RECORDS; pos++) {
            void *got = NULL;
            size_t len = 0;
            FORK_EXPECT(journal_get(j, pos, &got, &len), 0);
            if (got && !fork_same(got, len, pos, 0))
                fork_fail("the child read other bytes at %llu\n", (unsigned long long)pos);
            free(got);
        }
        fork_fill(rec, FORK_RECORDS, 1);
        FORK_EXPECT(journal_append(j, FORK_RECORDS, rec, sizeof rec), 0);
        FORK_EXPECT(journal_close(j), 0);
    }
    FORK_EXPECT(journal_store_check(s, NULL, NULL), 0);
    FORK_EXPECT(journal_store_close(s), 0);
}

/* Runs fn in a child and asserts it reported no mismatch. */
static void fork_run_child(journal_store *s, journal *j, journal_snapshot *snap, const char *path, int own)
{
    int fds[2], status;
    char buf[sizeof fork_report];
    ssize_t n, got = 0;
    pid_t pid;

    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char copy[4096];
        close(fds[0]);
        snprintf(copy, sizeof copy, "%s.copy", path);
        fork_child_inherited(s, j, snap, copy);
        if (own)
            fork_child_own(path);
        n = write(fds[1], fork_report, strlen(fork_report));
        _exit(n == (ssize_t)strlen(fork_report) ? 0 : 1);
    }
    close(fds[1]);
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += n;
    close(fds[0]);
    buf[got] = '\0';
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died of signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    cr_assert_eq(got, 0, "in the child:\n%s", buf);
    cr_assert_eq(WEXITSTATUS(status), 0);
}

/* A store with FORK_RECORDS records in "j" and a snapshot of it. */
static void fork_setup_parent(const char *path, journal_store **s, journal **j, journal_snapshot **snap)
{
    unsigned char rec[FORK_LEN];

    *s = tu_open_store(path, JOURNAL_NOSYNC);
    *j = tu_open_journal(*s, "j");
    for (journal_pos pos = 0; pos < FORK_RECORDS; pos++) {
        fork_fill(rec, pos, 0);
        cr_assert_eq(journal_append(*j, pos, rec, sizeof rec), 0);
    }
    cr_assert_eq(journal_snapshot_begin(*j, snap), 0);
}

/* The parent after the child: its snapshot still sees the old records,
 * also after the pages that held them were freed and written over many
 * times (which LMDB does only when no reader slot protects them). */
static void fork_check_parent(journal_store *s, journal *j, journal_snapshot *snap, const void *first, journal_pos end)
{
    unsigned char rec[FORK_LEN];
    journal_pos b, e;
    const void *p;
    size_t len;

    cr_assert_eq(journal_bounds(j, &b, &e), 0);
    cr_assert_eq(e, end);
    cr_assert_eq(journal_truncate(j, end), 0);
    for (journal_pos pos = end; pos < end + 3 * FORK_RECORDS; pos++) {
        memset(rec, 0xee, sizeof rec);
        cr_assert_eq(journal_append(j, pos, rec, sizeof rec), 0);
    }
    cr_assert_eq(journal_truncate(j, end + 3 * FORK_RECORDS), 0);

    cr_assert(fork_same(first, FORK_LEN, 0, 0), "the snapshot's record 0 was overwritten");
    cr_assert_eq(journal_snapshot_bounds(snap, &b, &e), 0);
    cr_assert_eq(b, 0);
    cr_assert_eq(e, FORK_RECORDS);
    for (journal_pos pos = 0; pos < FORK_RECORDS; pos++) {
        cr_assert_eq(journal_snapshot_get(snap, pos, &p, &len), 0);
        cr_assert(fork_same(p, len, pos, 0), "the snapshot's record %llu was overwritten", (unsigned long long)pos);
    }
    cr_assert_eq(journal_snapshot_renew(snap), 0);
    cr_assert_eq(journal_snapshot_bounds(snap, &b, &e), 0);
    cr_assert_eq(b, end + 3 * FORK_RECORDS);
    cr_assert_eq(e, end + 3 * FORK_RECORDS);
    journal_snapshot_end(snap);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(fork, inherited_handles_return_efork_and_leave_the_parent_working)
{
    const char *path = tu_store();
    journal_stat before, after;
    journal_store *s;
    journal *j;
    journal_snapshot *snap;
    const void *first;
    size_t len;

    tu_require_lmdb();
    fork_setup_parent(path, &s, &j, &snap);
    cr_assert_eq(journal_snapshot_get(snap, 0, &first, &len), 0);
    cr_assert_eq(journal_store_stat(s, &before), 0);
    cr_assert_geq(before.readers_used, 1);

    fork_run_child(s, j, snap, path, 0);

    cr_assert_eq(journal_store_stat(s, &after), 0);
    cr_assert_eq(after.readers_used, before.readers_used, "the child released the parent's reader slot");
    fork_check_parent(s, j, snap, first, FORK_RECORDS);
}

Test(fork, a_child_can_open_the_store_again_and_write)
{
    const char *path = tu_store();
    journal_stat before, after;
    journal_store *s;
    journal *j;
    journal_snapshot *snap;
    const void *first;
    void *got;
    size_t len;

    tu_require_lmdb();
    fork_setup_parent(path, &s, &j, &snap);
    cr_assert_eq(journal_snapshot_get(snap, 0, &first, &len), 0);
    cr_assert_eq(journal_store_stat(s, &before), 0);

    fork_run_child(s, j, snap, path, 1);

    /* The child's open reclaims the slots of dead processes only. */
    cr_assert_eq(journal_store_stat(s, &after), 0);
    cr_assert_eq(after.readers_used, before.readers_used, "the child released the parent's reader slot");
    cr_assert_eq(journal_get(j, FORK_RECORDS, &got, &len), 0, "the child's append is not visible");
    cr_assert(fork_same(got, len, FORK_RECORDS, 1));
    free(got);
    fork_check_parent(s, j, snap, first, FORK_RECORDS + 1);
}

Test(fork, a_grandchild_cannot_use_the_handles_its_parent_opened)
{
    const char *path = tu_store();
    journal_store *s;
    journal *j;
    journal_snapshot *snap;
    int fds[2], status;
    pid_t pid;
    char buf[sizeof fork_report];
    ssize_t n, got = 0;

    tu_require_lmdb();
    fork_setup_parent(path, &s, &j, &snap);
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* The child opens its own handles, then forks once more: the
         * grandchild must get JOURNAL_EFORK from them, the child not. */
        journal_store *cs = NULL;
        journal *cj = NULL;
        journal_snapshot *csnap = NULL;
        close(fds[0]);
        journal_snapshot_end(snap);
        journal_close(j);
        journal_store_close(s);
        FORK_EXPECT(journal_store_open(path, NULL, &cs), 0);
        if (cs)
            FORK_EXPECT(journal_open(cs, "j", &cj), 0);
        if (cj)
            FORK_EXPECT(journal_snapshot_begin(cj, &csnap), 0);
        if (csnap) {
            pid_t gpid;
            int gstatus;
            fflush(NULL);
            gpid = fork();
            if (gpid == 0) {
                char copy[4096];
                snprintf(copy, sizeof copy, "%s.copy", path);
                fork_child_inherited(cs, cj, csnap, copy);
                n = write(fds[1], fork_report, strlen(fork_report));
                _exit(n == (ssize_t)strlen(fork_report) ? 0 : 1);
            }
            if (gpid < 0 || waitpid(gpid, &gstatus, 0) != gpid || !WIFEXITED(gstatus) || WEXITSTATUS(gstatus) != 0)
                fork_fail("the grandchild failed\n");
            FORK_EXPECT(journal_append(cj, FORK_RECORDS, "x", 1), 0);
            journal_snapshot_end(csnap);
        }
        FORK_EXPECT(journal_close(cj), 0);
        FORK_EXPECT(journal_store_close(cs), 0);
        n = write(fds[1], fork_report, strlen(fork_report));
        _exit(n == (ssize_t)strlen(fork_report) ? 0 : 1);
    }
    close(fds[1]);
    while ((n = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0)
        got += n;
    close(fds[0]);
    buf[got] = '\0';
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    cr_assert_eq(got, 0, "in the child or grandchild:\n%s", buf);
    cr_assert_eq(journal_bounds(j, NULL, NULL), 0);
    journal_snapshot_end(snap);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ------------------------------------------------------------------------ */
/* Closing an inherited store while other threads of the parent had handles  */

#define FORK_CHILDREN 40
#define FORK_THREADS 4

struct fork_load {
    journal_store *s;
    atomic_int stop;
    atomic_int rounds;
    int failed; /* a thread's first failing code */
};

/* Opens journals and snapshots over and over, so that at any fork some are
 * open in threads that do not exist in the child. */
static void *fork_load_thread(void *arg)
{
    struct fork_load *l = arg;
    while (!atomic_load(&l->stop)) {
        journal *j;
        journal_snapshot *snap[3];
        const void *rec;
        size_t len;
        int rc = journal_open(l->s, "j", &j);
        if (rc != 0) {
            l->failed = rc;
            break;
        }
        for (int i = 0; i < 3 && rc == 0; i++)
            if ((rc = journal_snapshot_begin(j, &snap[i])) == 0 &&
                (rc = journal_snapshot_get(snap[i], (journal_pos)i, &rec, &len)) != 0)
                journal_snapshot_end(snap[i]);
        if (rc != 0) {
            l->failed = rc;
            break;
        }
        journal_snapshot_end(snap[1]);
        journal_close(j); /* the other two outlive the journal handle */
        journal_snapshot_end(snap[0]);
        journal_snapshot_end(snap[2]);
        atomic_fetch_add(&l->rounds, 1);
    }
    return NULL;
}

Test(fork, a_child_closes_an_inherited_store_while_parent_threads_had_handles_open, .timeout = 120)
{
    const char *path = tu_store();
    struct fork_load l = {0};
    pthread_t t[FORK_THREADS];
    journal *j;
    journal_snapshot *snap;
    const void *first;
    size_t len;
    int bad = 0, status = 0;

    tu_require_lmdb();
    fork_setup_parent(path, &l.s, &j, &snap);
    cr_assert_eq(journal_snapshot_get(snap, 0, &first, &len), 0);
    for (int i = 0; i < FORK_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, fork_load_thread, &l), 0);
    for (int c = 0; c < FORK_CHILDREN; c++) {
        pid_t pid;
        /* Let the threads get going between forks. */
        for (int r = atomic_load(&l.rounds); atomic_load(&l.rounds) < r + 2 && !l.failed;)
            sched_yield();
        fflush(NULL);
        pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            /* Half the children close the store first, the others last:
             * both orders must work and free only the child's memory. */
            int rc;
            if (c % 2) {
                rc = journal_store_close(l.s);
                journal_snapshot_end(snap);
                journal_close(j);
            } else {
                journal_snapshot_end(snap);
                journal_close(j);
                rc = journal_store_close(l.s);
            }
            _exit(rc == 0 ? 0 : 100 + (JOURNAL_ENOTFOUND - rc));
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (bad++ == 0)
                cr_log_error("child %d: status %d (exit %d = 100 + code offset)", c, status, WEXITSTATUS(status));
        }
    }
    atomic_store(&l.stop, 1);
    for (int i = 0; i < FORK_THREADS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(l.failed, 0, "a parent thread failed: %s", journal_strerror(l.failed));
    cr_assert_eq(bad, 0, "%d of %d children failed to close the inherited store", bad, FORK_CHILDREN);
    fork_check_parent(l.s, j, snap, first, FORK_RECORDS);
}
