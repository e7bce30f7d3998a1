/*
 * test_readers.c - reader slots across processes (LMDB backend).
 *
 * A store has a fixed number of reader slots, shared by every process, and
 * a snapshot holds one until it ends. These tests check that:
 *   - processes killed while holding snapshots do not use up the slots: new
 *     snapshots keep working in a process that was open all along (the
 *     library reclaims dead slots when they run out) and in processes that
 *     open afterwards (it reclaims them at open);
 *   - they do not pin pages forever: once they are dead, a writer that was
 *     open all along keeps the data file from growing while it appends and
 *     truncates;
 *   - 64 processes may each hold a snapshot, with default options, while a
 *     writer appends and truncates, and each snapshot stays consistent.
 * Record contents depend only on the seed and the position, so any process
 * can check any record it reads.
 */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Processes                                                                */

/* Reads one message of len bytes from fd, failing the test when a child
 * reports an error first or nothing comes for TU_PROC_TIMEOUT_MS. */
static void expect_message(int fd, void *buf, size_t len)
{
    tu_wait_readable(fd);
    cr_assert_eq(tu_read_all(fd, buf, len), 0, "a child is gone: %s", tu_child_errors());
}

static void kill_and_reap(pid_t pid)
{
    int status;
    cr_assert_eq(kill(pid, SIGKILL), 0);
    status = tu_reap(pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "pid %ld ended with status %#x before the kill: %s",
              (long)pid, status, tu_child_errors());
}

/* Closes *fd once and marks it closed, so that a child forked later does
 * not close an unrelated descriptor that reused its number. */
static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Blocks until the parent closes its end of the pipe (or dies). */
static void wait_for_close(int fd)
{
    char c;
    if (tu_read_all(fd, &c, 1) != 1)
        tu_child_fail("unexpected data on a control pipe");
}

/* ------------------------------------------------------------------------ */
/* Records                                                                  */

#define REC_MAX 1200

/* The record at pos: its length and bytes follow from the seed and pos. */
static size_t rec_make(uint64_t seed, journal_pos pos, unsigned char *buf)
{
    uint64_t st = (seed ^ (pos * 0x9e3779b97f4a7c15ull)) | 1;
    size_t len = 8 + tu_rand(&st) % (REC_MAX - 8);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(pos >> (56 - 8 * i));
    for (size_t i = 8; i < len; i++)
        buf[i] = (unsigned char)(tu_rand(&st) >> 56);
    return len;
}

static int rec_is(uint64_t seed, journal_pos pos, const void *rec, size_t len)
{
    unsigned char want[REC_MAX];
    return rec_make(seed, pos, want) == len && memcmp(want, rec, len) == 0;
}

/* Appends n records at end (the journal's end) in one batch. */
static int append_n(journal *j, uint64_t seed, journal_pos end, size_t n)
{
    static unsigned char bytes[64][REC_MAX];
    journal_record recs[64];
    if (n > 64)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        recs[i].data = bytes[i];
        recs[i].len = rec_make(seed, end + i, bytes[i]);
    }
    return journal_append_batch(j, end, recs, n);
}

static journal_store *open_store(const char *path, unsigned max_readers, unsigned flags)
{
    journal_options o = {0};
    journal_store *s;
    int rc;
    o.max_readers = max_readers;
    o.flags = flags;
    rc = journal_store_open(path, &o, &s);
    if (rc != 0)
        tu_child_fail("journal_store_open: %s", journal_strerror(rc));
    return s;
}

static journal *open_journal(journal_store *s)
{
    journal *j;
    int rc = journal_open(s, "readers", &j);
    if (rc != 0)
        tu_child_fail("journal_open: %s", journal_strerror(rc));
    return j;
}

/* A snapshot checked in full: bounds, and each record's bytes. */
static void check_snapshot(journal_snapshot *snap, uint64_t seed, journal_pos *begin, journal_pos *end)
{
    int rc = journal_snapshot_bounds(snap, begin, end);
    if (rc != 0)
        tu_child_fail("journal_snapshot_bounds: %s", journal_strerror(rc));
    for (journal_pos pos = *begin; pos < *end; pos++) {
        const void *rec;
        size_t len;
        rc = journal_snapshot_get(snap, pos, &rec, &len);
        if (rc != 0)
            tu_child_fail("journal_snapshot_get(%llu): %s", (unsigned long long)pos, journal_strerror(rc));
        if (!rec_is(seed, pos, rec, len))
            tu_child_fail("the snapshot's record %llu is wrong", (unsigned long long)pos);
    }
}

static void close_all(journal_store *s, journal *j)
{
    int rc;
    journal_close(j);
    rc = journal_store_close(s);
    if (rc != 0)
        tu_child_fail("journal_store_close: %s", journal_strerror(rc));
}

TestSuite(readers, .init = tu_setup, .fini = tu_teardown, .timeout = 120);

/* ------------------------------------------------------------------------ */
/* Dead readers: slots                                                      */

#define FEW_READERS 16
#define ROUNDS 5
/* Snapshots the first hog of a round takes; the second takes the rest. */
#define HOG_FIRST 6
#define SURVIVOR_SNAPS 3
#define SLOTS_PREFILL 10

struct slots {
    const char *path;
    uint64_t seed;
    int hold[2];   /* hogs block on it until killed */
    int report[2]; /* hogs: unsigned snapshots taken; the survivor: one byte per round */
    int rounds[2]; /* the survivor reads one byte per round: go */
    unsigned take; /* snapshots a hog takes at most */
};

/* Takes snapshots until it has `take` or every slot is in use, reports
 * how many, and holds them until it is killed. */
static void hog(void *arg)
{
    struct slots *sl = arg;
    journal_snapshot *snaps[FEW_READERS + 1];
    journal_store *s;
    journal *j;
    unsigned n = 0;
    int rc = 0;
    close_fd(&sl->hold[1]);
    close_fd(&sl->report[0]);
    close_fd(&sl->rounds[0]);
    close_fd(&sl->rounds[1]);
    s = open_store(sl->path, FEW_READERS, 0);
    j = open_journal(s);
    while (n < sl->take && (rc = journal_snapshot_begin(j, &snaps[n])) == 0) {
        journal_pos begin, end;
        check_snapshot(snaps[n], sl->seed, &begin, &end);
        n++;
    }
    if (n < sl->take && rc != JOURNAL_EREADERS)
        tu_child_fail("hog: journal_snapshot_begin after %u: %s", n, journal_strerror(rc));
    if (n == 0)
        tu_child_fail("hog: not a single snapshot");
    if (tu_write_all(sl->report[1], &n, sizeof n) != 0)
        tu_child_fail("hog: cannot report");
    wait_for_close(sl->hold[0]);
    tu_child_fail("hog: not killed");
}

/* Open all along: after each round of killed hogs, which left every slot
 * taken by a dead process or by itself, new snapshots must work. It takes
 * SURVIVOR_SNAPS at once, more than the one transaction it keeps for reuse,
 * so that it needs a slot it does not hold yet. */
static void survivor(void *arg)
{
    struct slots *sl = arg;
    journal_store *s;
    journal *j;
    char c = 1;
    close_fd(&sl->report[0]);
    close_fd(&sl->rounds[1]);
    s = open_store(sl->path, FEW_READERS, 0);
    j = open_journal(s);
    if (tu_write_all(sl->report[1], &c, 1) != 0)
        tu_child_fail("survivor: cannot report");
    while (tu_read_all(sl->rounds[0], &c, 1) == 0) {
        journal_snapshot *snaps[SURVIVOR_SNAPS];
        for (int i = 0; i < SURVIVOR_SNAPS; i++) {
            journal_pos begin, end;
            int rc = journal_snapshot_begin(j, &snaps[i]);
            if (rc != 0)
                tu_child_fail("survivor: journal_snapshot_begin #%d after the hogs died: %s", i, journal_strerror(rc));
            check_snapshot(snaps[i], sl->seed, &begin, &end);
            if (begin != 0 || end != SLOTS_PREFILL)
                tu_child_fail("survivor: snapshot bounds [%llu, %llu)", (unsigned long long)begin,
                              (unsigned long long)end);
        }
        for (int i = 0; i < SURVIVOR_SNAPS; i++)
            journal_snapshot_end(snaps[i]);
        if (tu_write_all(sl->report[1], &c, 1) != 0)
            tu_child_fail("survivor: cannot report");
    }
    close_all(s, j);
}

Test(readers, dead_readers_do_not_use_up_the_slots)
{
    struct slots sl = {.hold = {-1, -1}, .report = {-1, -1}, .rounds = {-1, -1}};
    journal_options o = {.max_readers = FEW_READERS};
    journal_snapshot *snaps[FEW_READERS];
    journal_store *s;
    journal *j;
    journal_stat st;
    pid_t surv;
    unsigned killed = 0;
    char c;
    int rc;

    tu_require_lmdb();
    sl.seed = tu_seed("JOURNAL_TEST_SEED");
    sl.path = tu_store();
    tu_procs_init();
    rc = journal_store_open(sl.path, &o, &s);
    cr_assert_eq(rc, 0, "journal_store_open: %s", journal_strerror(rc));
    j = tu_open_journal(s, "readers");
    cr_assert_eq(append_n(j, sl.seed, 0, SLOTS_PREFILL), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    cr_assert_eq(pipe(sl.report), 0);
    cr_assert_eq(pipe(sl.rounds), 0);
    surv = tu_spawn(survivor, &sl);
    close_fd(&sl.rounds[0]);
    expect_message(sl.report[0], &c, 1);
    for (unsigned round = 0; round < ROUNDS; round++) {
        /* The last round leaves free slots, for the open below. */
        int nhogs = round == ROUNDS - 1 ? 1 : 2;
        pid_t hogs[2];
        unsigned got[2];
        cr_assert_eq(pipe(sl.hold), 0);
        /* The first hog opens after the last round's hogs died (it may
         * reclaim their slots at open); the second takes what is left. */
        for (int h = 0; h < nhogs; h++) {
            sl.take = h == 0 ? HOG_FIRST : FEW_READERS + 1;
            hogs[h] = tu_spawn(hog, &sl);
            expect_message(sl.report[0], &got[h], sizeof got[h]);
        }
        cr_assert(nhogs == 1 || got[1] < FEW_READERS + 1, "the second hog took %u snapshots of %u slots", got[1],
                  FEW_READERS);
        for (int h = 0; h < nhogs; h++) {
            kill_and_reap(hogs[h]);
            killed += got[h];
        }
        close_fd(&sl.hold[0]);
        close_fd(&sl.hold[1]);
        if (round == ROUNDS - 1)
            break;
        /* Every slot now belongs to a dead process or the survivor. */
        cr_assert_eq(tu_write_all(sl.rounds[1], &c, 1), 0);
        expect_message(sl.report[0], &c, 1);
    }
    fprintf(stderr, "readers: %u snapshots held by %u killed processes, %u slots\n", killed, 2 * ROUNDS - 1,
            FEW_READERS);
    cr_assert_gt(killed, FEW_READERS);

    /* The last round's hog is dead, its slots not yet reclaimed but not
     * all of the table either, so that no read runs out of slots. The
     * survivor keeps the store open (else the first opener would reset the
     * whole table) and holds at most two slots (a reset transaction kept
     * for reuse, one pooled for snapshots): a fresh open must reclaim the
     * dead ones itself. */
    rc = journal_store_open(sl.path, &o, &s);
    cr_assert_eq(rc, 0, "journal_store_open: %s", journal_strerror(rc));
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_leq(st.readers_used, 3, "%u slots in use by two live processes", st.readers_used);
    cr_assert_eq(st.max_readers, FEW_READERS);
    j = tu_open_journal(s, "readers");
    for (int i = 0; i < FEW_READERS - 4; i++) {
        rc = journal_snapshot_begin(j, &snaps[i]);
        cr_assert_eq(rc, 0, "snapshot %d after the open: %s", i, journal_strerror(rc));
    }
    for (int i = 0; i < FEW_READERS - 4; i++)
        journal_snapshot_end(snaps[i]);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    close_fd(&sl.rounds[1]);
    tu_expect_exit_ok(surv, "survivor");
    close_fd(&sl.report[0]);
    close_fd(&sl.report[1]);
    tu_procs_fini();
}

/* ------------------------------------------------------------------------ */
/* Dead readers: pages                                                      */

/* Each takes two slots (a snapshot and a transaction kept for reuse): the
 * writer must not run out, or it would reclaim the dead slots for that. */
#define PIN_READERS 6
#define WARM_CYCLES 60
#define CYCLES 300
#define KEEP 8
/* Growth allowed over CYCLES cycles once the readers are dead: pages
 * pinned by them would cost several pages per transaction, megabytes in
 * all. */
#define GROWTH_BOUND (1024u * 1024)

struct pins {
    const char *path;
    uint64_t seed;
    int hold[2];   /* readers block on it until killed */
    int ready[2];  /* readers: one byte once they hold their snapshot */
    int to_w[2];   /* parent -> writer: one byte: go on */
    int from_w[2]; /* writer -> parent: struct sizes after warming up, then at the end */
};

struct sizes {
    uint64_t file_size, used_size, end;
};

static void pin_reader(void *arg)
{
    struct pins *p = arg;
    journal_snapshot *snap;
    journal_store *s;
    journal *j;
    journal_pos begin, end;
    char c = 1;
    int rc;
    close_fd(&p->hold[1]);
    close_fd(&p->ready[0]);
    close_fd(&p->to_w[0]);
    close_fd(&p->to_w[1]);
    close_fd(&p->from_w[0]);
    close_fd(&p->from_w[1]);
    s = open_store(p->path, FEW_READERS, 0);
    j = open_journal(s);
    rc = journal_snapshot_begin(j, &snap);
    if (rc != 0)
        tu_child_fail("reader: journal_snapshot_begin: %s", journal_strerror(rc));
    check_snapshot(snap, p->seed, &begin, &end);
    if (tu_write_all(p->ready[1], &c, 1) != 0)
        tu_child_fail("reader: cannot report");
    wait_for_close(p->hold[0]);
    tu_child_fail("reader: not killed");
}

/* KEEP records in, one out, then truncate to KEEP again: the journal stays
 * the same size, so the file needs to grow only while pages are pinned. */
static void cycle(journal *j, uint64_t seed, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        journal_pos begin, end;
        int rc = journal_bounds(j, &begin, &end);
        if (rc != 0)
            tu_child_fail("writer: journal_bounds: %s", journal_strerror(rc));
        rc = append_n(j, seed, end, KEEP);
        if (rc != 0)
            tu_child_fail("writer: append at %llu: %s", (unsigned long long)end, journal_strerror(rc));
        rc = journal_truncate(j, end);
        if (rc != 0)
            tu_child_fail("writer: journal_truncate(%llu): %s", (unsigned long long)end, journal_strerror(rc));
    }
}

static void report_sizes(struct pins *p, journal_store *s, journal *j)
{
    struct sizes sz;
    journal_stat st;
    int rc = journal_store_stat(s, &st);
    if (rc != 0)
        tu_child_fail("writer: journal_store_stat: %s", journal_strerror(rc));
    rc = journal_bounds(j, NULL, &sz.end);
    if (rc != 0)
        tu_child_fail("writer: journal_bounds: %s", journal_strerror(rc));
    sz.file_size = st.file_size;
    sz.used_size = st.used_size;
    if (tu_write_all(p->from_w[1], &sz, sizeof sz) != 0)
        tu_child_fail("writer: cannot report");
}

/* Open from before the readers start until after they died: it never
 * opens the store again, so only the library's own reclaiming can free
 * the pages the dead readers' snapshots pinned. */
static void pin_writer(void *arg)
{
    struct pins *p = arg;
    journal_store *s;
    journal *j;
    char c;
    close_fd(&p->hold[0]);
    close_fd(&p->hold[1]);
    close_fd(&p->ready[0]);
    close_fd(&p->ready[1]);
    close_fd(&p->to_w[1]);
    close_fd(&p->from_w[0]);
    /* Durable: a JOURNAL_NOSYNC store pins, by design, the pages freed
     * since its last steady point (see include/journal.h, DURABILITY), which
     * is more than this test's bound for dead readers allows. */
    s = open_store(p->path, FEW_READERS, 0);
    j = open_journal(s);
    cycle(j, p->seed, WARM_CYCLES);
    report_sizes(p, s, j);
    if (tu_read_all(p->to_w[0], &c, 1) != 0)
        tu_child_fail("writer: the parent is gone");
    cycle(j, p->seed, CYCLES);
    report_sizes(p, s, j);
    close_all(s, j);
}

Test(readers, dead_readers_do_not_pin_pages)
{
    struct pins p = {0};
    struct sizes before, after;
    pid_t writer, readers[PIN_READERS];
    char c = 1;

    tu_require_lmdb();
    p.seed = tu_seed("JOURNAL_TEST_SEED");
    p.path = tu_store();
    tu_procs_init();
    cr_assert_eq(pipe(p.hold), 0);
    cr_assert_eq(pipe(p.ready), 0);
    cr_assert_eq(pipe(p.to_w), 0);
    cr_assert_eq(pipe(p.from_w), 0);
    writer = tu_spawn(pin_writer, &p);
    close_fd(&p.to_w[0]);
    close_fd(&p.from_w[1]);
    expect_message(p.from_w[0], &before, sizeof before);
    for (int i = 0; i < PIN_READERS; i++) {
        readers[i] = tu_spawn(pin_reader, &p);
        expect_message(p.ready[0], &c, 1);
    }
    for (int i = 0; i < PIN_READERS; i++)
        kill_and_reap(readers[i]);
    cr_assert_eq(tu_write_all(p.to_w[1], &c, 1), 0);
    expect_message(p.from_w[0], &after, sizeof after);
    tu_expect_exit_ok(writer, "writer");
    fprintf(stderr, "readers: %d cycles after %d readers died: file %llu -> %llu bytes, used %llu -> %llu\n", CYCLES,
            PIN_READERS, (unsigned long long)before.file_size, (unsigned long long)after.file_size,
            (unsigned long long)before.used_size, (unsigned long long)after.used_size);
    cr_assert_eq(after.end, before.end + (journal_pos)CYCLES * KEEP);
    cr_assert_leq(after.used_size, before.used_size + GROWTH_BOUND,
                  "the data in use grew from %llu to %llu bytes: dead readers pin pages",
                  (unsigned long long)before.used_size, (unsigned long long)after.used_size);
    cr_assert_leq(after.file_size, before.file_size + GROWTH_BOUND,
                  "the data file grew from %llu to %llu bytes: dead readers pin pages",
                  (unsigned long long)before.file_size, (unsigned long long)after.file_size);
    for (int i = 0; i < 2; i++) {
        close_fd(&p.hold[i]);
        close_fd(&p.ready[i]);
    }
    close_fd(&p.to_w[1]);
    close_fd(&p.from_w[0]);
    tu_procs_fini();
}

/* ------------------------------------------------------------------------ */
/* Many readers                                                             */

#define MANY 64
/* Under valgrind, where each process is some 30 times slower. */
#define VALGRIND_MANY 16
#define PREFILL 100
#define WRITES 100

struct many {
    const char *path;
    uint64_t seed;
    unsigned readers;
    int ready[2]; /* readers: one byte once their first snapshot is checked */
    int go[2];    /* the parent closes it: the writer starts */
    int stop[2];  /* the parent closes it once the writer is done */
};

/* Holds a snapshot taken before the writer started until the writer is
 * done; then it must still read the same, at the same addresses; renewed,
 * it must show the final state. */
static void many_reader(void *arg)
{
    struct many *m = arg;
    journal_snapshot *snap;
    journal_store *s;
    journal *j;
    journal_pos begin, end, b2, e2, b3, e3;
    const void *first, *last, *rec;
    unsigned char first_copy[REC_MAX], last_copy[REC_MAX];
    size_t first_len, last_len, len;
    char c = 1;
    int rc;
    close_fd(&m->ready[0]);
    close_fd(&m->go[0]);
    close_fd(&m->go[1]);
    close_fd(&m->stop[1]);
    s = open_store(m->path, 0, 0);
    j = open_journal(s);
    rc = journal_snapshot_begin(j, &snap);
    if (rc != 0)
        tu_child_fail("reader: journal_snapshot_begin: %s", journal_strerror(rc));
    check_snapshot(snap, m->seed, &begin, &end);
    if (begin != 0 || end != PREFILL)
        tu_child_fail("reader: first snapshot [%llu, %llu)", (unsigned long long)begin, (unsigned long long)end);
    if (journal_snapshot_get(snap, begin, &first, &first_len) != 0 ||
        journal_snapshot_get(snap, end - 1, &last, &last_len) != 0)
        tu_child_fail("reader: journal_snapshot_get failed");
    memcpy(first_copy, first, first_len);
    memcpy(last_copy, last, last_len);
    if (tu_write_all(m->ready[1], &c, 1) != 0)
        tu_child_fail("reader: cannot report");
    wait_for_close(m->stop[0]);

    /* The writer has truncated every record this snapshot holds. */
    check_snapshot(snap, m->seed, &b2, &e2);
    if (b2 != begin || e2 != end)
        tu_child_fail("reader: snapshot bounds moved to [%llu, %llu)", (unsigned long long)b2, (unsigned long long)e2);
    if (memcmp(first, first_copy, first_len) != 0 || memcmp(last, last_copy, last_len) != 0)
        tu_child_fail("reader: bytes behind the snapshot's pointers changed");
    if (journal_snapshot_get(snap, begin, &rec, &len) != 0 || len != first_len || memcmp(rec, first_copy, len) != 0)
        tu_child_fail("reader: the snapshot's first record changed");
    rc = journal_snapshot_renew(snap);
    if (rc != 0)
        tu_child_fail("reader: journal_snapshot_renew: %s", journal_strerror(rc));
    check_snapshot(snap, m->seed, &b2, &e2);
    rc = journal_bounds(j, &b3, &e3);
    if (rc != 0 || b2 != b3 || e2 != e3 || b2 <= end)
        tu_child_fail("reader: renewed snapshot [%llu, %llu), journal [%llu, %llu): %s", (unsigned long long)b2,
                      (unsigned long long)e2, (unsigned long long)b3, (unsigned long long)e3, journal_strerror(rc));
    journal_snapshot_end(snap);
    close_all(s, j);
}

/* Appends batches and truncates, with every reader's snapshot open. */
static void many_writer(void *arg)
{
    struct many *m = arg;
    journal_store *s;
    journal *j;
    journal_stat st;
    int rc;
    close_fd(&m->ready[0]);
    close_fd(&m->ready[1]);
    close_fd(&m->go[1]);
    close_fd(&m->stop[0]);
    close_fd(&m->stop[1]);
    s = open_store(m->path, 0, 0);
    j = open_journal(s);
    wait_for_close(m->go[0]);
    rc = journal_store_stat(s, &st);
    if (rc != 0)
        tu_child_fail("writer: journal_store_stat: %s", journal_strerror(rc));
    if (st.readers_used < m->readers)
        tu_child_fail("writer: %u reader slots in use with %u snapshots open", st.readers_used, m->readers);
    for (unsigned i = 0; i < WRITES; i++) {
        journal_pos begin, end;
        rc = journal_bounds(j, &begin, &end);
        if (rc != 0)
            tu_child_fail("writer: journal_bounds: %s", journal_strerror(rc));
        rc = append_n(j, m->seed, end, 1 + i % 20);
        if (rc != 0)
            tu_child_fail("writer: append at %llu: %s", (unsigned long long)end, journal_strerror(rc));
        if (i % 10 == 9) {
            rc = journal_truncate(j, end);
            if (rc != 0)
                tu_child_fail("writer: journal_truncate(%llu): %s", (unsigned long long)end, journal_strerror(rc));
        }
    }
    close_all(s, j);
}

Test(readers, many_processes_hold_snapshots_while_a_writer_works)
{
    struct many m = {0};
    pid_t readers[MANY], writer;
    journal_store *s;
    journal *j;
    char c;
    int rc;

    const char *vg = getenv("JOURNAL_TEST_VALGRIND");

    tu_require_lmdb();
    m.seed = tu_seed("JOURNAL_TEST_SEED");
    m.readers = vg && *vg && strcmp(vg, "0") != 0 ? VALGRIND_MANY : MANY;
    m.path = tu_store();
    tu_procs_init();
    s = tu_open_store(m.path, 0);
    j = tu_open_journal(s, "readers");
    cr_assert_eq(append_n(j, m.seed, 0, 50), 0);
    cr_assert_eq(append_n(j, m.seed, 50, PREFILL - 50), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    cr_assert_eq(pipe(m.ready), 0);
    cr_assert_eq(pipe(m.go), 0);
    cr_assert_eq(pipe(m.stop), 0);
    for (unsigned i = 0; i < m.readers; i++)
        readers[i] = tu_spawn(many_reader, &m);
    writer = tu_spawn(many_writer, &m);
    close_fd(&m.ready[1]);
    close_fd(&m.go[0]);
    close_fd(&m.stop[0]);
    for (unsigned i = 0; i < m.readers; i++)
        expect_message(m.ready[0], &c, 1);
    close_fd(&m.go[1]);
    tu_expect_exit_ok(writer, "writer");
    close_fd(&m.stop[1]);
    for (unsigned i = 0; i < m.readers; i++)
        tu_expect_exit_ok(readers[i], "reader");
    close_fd(&m.ready[0]);

    s = tu_open_store(m.path, 0);
    rc = journal_store_check(s, NULL, NULL);
    cr_assert_eq(rc, 0, "journal_store_check: %s", journal_strerror(rc));
    cr_assert_eq(journal_store_close(s), 0);
    tu_procs_fini();
}
