/*
 * test_procs.c - writers and readers racing in separate processes on one
 * journal (LMDB backend).
 *
 * Four writer processes append with the bounds-then-append retry loop while
 * two reader processes keep reading the journal, through journal_range() and
 * through snapshots. Every record names its writer and sequence number, has
 * content derived from them and the seed, and ends with a checksum of itself,
 * so any process can verify any record on its own. At the end the journal
 * holds every record exactly once, each writer's in its own order, with no
 * gap, and every reader saw contiguous positions and records that never
 * changed.
 *
 * Each child opens its own store handle after fork() (handles do not survive
 * it) and leaves with _exit(). Children start together when the parent
 * closes the "go" pipe, and readers stop when it closes the "stop" pipe;
 * failures come back as one line on an error pipe.
 */
#include "util.h"

#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITERS 4
#define READERS 2

/* ------------------------------------------------------------------------ */
/* Records                                                                  */

/* Self-checking records (tu_rec_make()) of up to REC_BODY_MAX bytes of
 * body. */
#define REC_BODY_MAX 300
#define REC_MAX TU_REC_MAX(REC_BODY_MAX)

/* What is wrong with the record at pos, or NULL; follows the order of a
 * scan from position 0. */
struct scan {
    uint64_t seed;
    journal_pos next;           /* the position expected next */
    uint32_t next_seq[WRITERS]; /* each writer's sequence number expected next */
    uint64_t *sums;             /* checksum of each position seen, for "unchanged" */
    size_t nsums;
    char problem[256];
};

static void scan_restart(struct scan *sc)
{
    sc->next = 0;
    memset(sc->next_seq, 0, sizeof sc->next_seq);
}

static const char *scan_record(struct scan *sc, journal_pos pos, const void *rec, size_t len)
{
    const char *bad;
    uint32_t w, seq;
    uint64_t sum;
    if (pos != sc->next) {
        snprintf(sc->problem, sizeof sc->problem, "position %llu after %llu: not contiguous", (unsigned long long)pos,
                 (unsigned long long)sc->next - 1);
        return sc->problem;
    }
    bad = tu_rec_check(sc->seed, REC_BODY_MAX, WRITERS, rec, len, &w, &seq);
    if (bad) {
        snprintf(sc->problem, sizeof sc->problem, "record at %llu (%zu bytes) %s", (unsigned long long)pos, len, bad);
        return sc->problem;
    }
    if (seq != sc->next_seq[w]) {
        snprintf(sc->problem, sizeof sc->problem, "record at %llu is writer %u's #%u, expected its #%u",
                 (unsigned long long)pos, w, seq, sc->next_seq[w]);
        return sc->problem;
    }
    sum = tu_rec_sum(rec, len);
    if (pos < sc->nsums && sc->sums[pos] != sum) {
        snprintf(sc->problem, sizeof sc->problem, "record at %llu changed since an earlier read",
                 (unsigned long long)pos);
        return sc->problem;
    }
    if (pos == sc->nsums) {
        uint64_t *n = realloc(sc->sums, (sc->nsums + 1) * sizeof *n);
        if (!n) {
            snprintf(sc->problem, sizeof sc->problem, "out of memory");
            return sc->problem;
        }
        sc->sums = n;
        sc->sums[sc->nsums++] = sum;
    }
    sc->next_seq[w]++;
    sc->next++;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The race                                                                 */

struct race {
    const char *path;
    unsigned flags;
    uint64_t seed;
    unsigned per_writer;
    unsigned id;
    int ready[2];  /* each child writes one byte once its journal is open */
    int go[2];     /* the parent closes it: start */
    int stop[2];   /* the parent closes it once every writer is done */
    int result[2]; /* each child writes one struct report */
};

struct report {
    uint32_t is_reader, id;
    uint64_t conflicts; /* writers: appends that returned JOURNAL_ECONFLICT */
    uint64_t passes;    /* readers: rounds of reading */
    uint64_t partial;   /* readers: rounds that saw fewer records than the total */
};

/* Opens the store and the journal in the child, then waits for "go". */
static void child_start(struct race *r, journal_store **s, journal **j)
{
    journal_options o = {0};
    char c = 1;
    int rc;
    close(r->ready[0]);
    close(r->go[1]);
    close(r->stop[1]);
    close(r->result[0]);
    o.flags = r->flags;
    rc = journal_store_open(r->path, &o, s);
    if (rc != 0)
        tu_child_fail("journal_store_open: %s", journal_strerror(rc));
    rc = journal_open(*s, "race", j);
    if (rc != 0)
        tu_child_fail("journal_open: %s", journal_strerror(rc));
    if (tu_write_all(r->ready[1], &c, 1) != 0 || tu_read_all(r->go[0], &c, 1) != 1)
        tu_child_fail("lost the parent's pipes");
}

static void child_finish(struct race *r, journal_store *s, journal *j, const struct report *rep)
{
    int rc;
    journal_close(j);
    rc = journal_store_close(s);
    if (rc != 0)
        tu_child_fail("journal_store_close: %s", journal_strerror(rc));
    if (tu_write_all(r->result[1], rep, sizeof *rep) != 0)
        tu_child_fail("cannot report");
}

static void writer(void *arg)
{
    struct race *r = arg;
    struct report rep = {.is_reader = 0, .id = r->id};
    unsigned char rec[REC_MAX];
    journal_store *s;
    journal *j;
    child_start(r, &s, &j);
    for (uint32_t seq = 0; seq < r->per_writer; seq++) {
        size_t len = tu_rec_make(r->seed, r->id, seq, REC_BODY_MAX, rec);
        journal_pos begin, end;
        int rc;
        for (;;) {
            rc = journal_bounds(j, &begin, &end);
            if (rc != 0)
                tu_child_fail("writer %u: journal_bounds: %s", r->id, journal_strerror(rc));
            if (begin != 0)
                tu_child_fail("writer %u: begin moved to %llu", r->id, (unsigned long long)begin);
            rc = journal_append(j, end, rec, len);
            if (rc != JOURNAL_ECONFLICT)
                break;
            rep.conflicts++;
        }
        if (rc != 0)
            tu_child_fail("writer %u: journal_append at %llu: %s", r->id, (unsigned long long)end,
                          journal_strerror(rc));
    }
    child_finish(r, s, j, &rep);
}

static int scan_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    const char *problem = scan_record(arg, pos, rec, len);
    if (problem)
        tu_child_fail("range: %s", problem);
    return 0;
}

static int stop_requested(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* One round through journal_range(): returns the number of records seen,
 * which is at least the end read before. */
static journal_pos read_by_range(journal *j, struct scan *sc, journal_pos seen)
{
    journal_pos begin, end;
    int rc = journal_bounds(j, &begin, &end);
    if (rc != 0)
        tu_child_fail("journal_bounds: %s", journal_strerror(rc));
    /* What this process saw stays visible: an append is visible
     * everywhere once it returned, and a range reads a snapshot taken
     * when it starts, so no later read may show an older state. */
    if (begin != 0 || end < seen)
        tu_child_fail("bounds [%llu, %llu) after an end of %llu", (unsigned long long)begin, (unsigned long long)end,
                      (unsigned long long)seen);
    if (end == 0)
        return 0;
    scan_restart(sc);
    rc = journal_range(j, 0, scan_cb, sc);
    if (rc != 0)
        tu_child_fail("journal_range: %s", journal_strerror(rc));
    if (sc->next < end)
        tu_child_fail("journal_range stopped at %llu, below the end %llu", (unsigned long long)sc->next,
                      (unsigned long long)end);
    return sc->next;
}

/* One round through the snapshot, renewed: every position of its bounds by
 * journal_snapshot_get(), then all of them again by snapshot_range(); the
 * first pointer must still show the same bytes after both. */
static journal_pos read_by_snapshot(journal *j, journal_snapshot **snap, struct scan *sc, journal_pos seen)
{
    journal_pos begin, end;
    const void *first = NULL, *rec;
    unsigned char copy[REC_MAX];
    size_t first_len = 0, len;
    int rc = *snap ? journal_snapshot_renew(*snap) : journal_snapshot_begin(j, snap);
    if (rc != 0)
        tu_child_fail("snapshot begin/renew: %s", journal_strerror(rc));
    rc = journal_snapshot_bounds(*snap, &begin, &end);
    if (rc != 0)
        tu_child_fail("journal_snapshot_bounds: %s", journal_strerror(rc));
    if (begin != 0 || end < seen)
        tu_child_fail("snapshot bounds [%llu, %llu) after an end of %llu", (unsigned long long)begin,
                      (unsigned long long)end, (unsigned long long)seen);
    scan_restart(sc);
    for (journal_pos pos = 0; pos < end; pos++) {
        const char *problem;
        rc = journal_snapshot_get(*snap, pos, &rec, &len);
        if (rc != 0)
            tu_child_fail("journal_snapshot_get(%llu) in [0, %llu): %s", (unsigned long long)pos,
                          (unsigned long long)end, journal_strerror(rc));
        problem = scan_record(sc, pos, rec, len);
        if (problem)
            tu_child_fail("snapshot: %s", problem);
        if (pos == 0) {
            first = rec;
            first_len = len;
            memcpy(copy, rec, len);
        }
    }
    rc = journal_snapshot_get(*snap, end, &rec, &len);
    if (rc != JOURNAL_ENOTFOUND)
        tu_child_fail("journal_snapshot_get at the snapshot's end %llu: %s", (unsigned long long)end,
                      journal_strerror(rc));
    if (end > 0) {
        scan_restart(sc);
        rc = journal_snapshot_range(*snap, 0, scan_cb, sc);
        if (rc != 0 || sc->next != end)
            tu_child_fail("journal_snapshot_range: %s, %llu records of %llu", journal_strerror(rc),
                          (unsigned long long)sc->next, (unsigned long long)end);
        if (memcmp(first, copy, first_len) != 0)
            tu_child_fail("a snapshot pointer's bytes changed while the snapshot was open");
    }
    return end;
}

static void reader(void *arg)
{
    struct race *r = arg;
    struct report rep = {.is_reader = 1, .id = r->id};
    struct scan sc = {.seed = r->seed};
    journal_snapshot *snap = NULL;
    journal_pos seen = 0, total = (journal_pos)WRITERS * r->per_writer;
    journal_store *s;
    journal *j;
    int last;
    child_start(r, &s, &j);
    do {
        /* The stop pipe closes only after every writer has exited, so the
         * round that starts after seeing it must find every record. */
        last = stop_requested(r->stop[0]);
        seen = read_by_range(j, &sc, seen);
        seen = read_by_snapshot(j, &snap, &sc, seen);
        rep.passes++;
        rep.partial += seen < total;
    } while (!last);
    if (seen != total)
        tu_child_fail("reader %u: the final round saw %llu records of %llu", r->id, (unsigned long long)seen,
                      (unsigned long long)total);
    journal_snapshot_end(snap);
    free(sc.sums);
    child_finish(r, s, j, &rep);
}

static int final_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    const char *problem = scan_record(arg, pos, rec, len);
    cr_assert_null(problem, "final check: %s", problem);
    return 0;
}

static void race(unsigned flags, unsigned per_writer)
{
    struct race r = {.flags = flags, .per_writer = per_writer};
    struct scan sc = {0};
    pid_t writers[WRITERS], readers[READERS];
    struct report rep;
    uint64_t conflicts = 0;
    journal_pos begin, end, total = (journal_pos)WRITERS * per_writer;
    journal_store *s;
    journal *j;
    char c;
    int rc, got;

    tu_require_lmdb();
    r.seed = tu_seed("JOURNAL_TEST_SEED");
    r.path = tu_store();
    tu_procs_init();
    cr_assert_eq(pipe(r.ready), 0);
    cr_assert_eq(pipe(r.go), 0);
    cr_assert_eq(pipe(r.stop), 0);
    cr_assert_eq(pipe(r.result), 0);
    /* Every child creates the store and the journal if it comes first:
     * concurrent creation is part of the race. */
    for (unsigned i = 0; i < WRITERS; i++) {
        r.id = i;
        writers[i] = tu_spawn(writer, &r);
    }
    for (unsigned i = 0; i < READERS; i++) {
        r.id = i;
        readers[i] = tu_spawn(reader, &r);
    }
    close(r.ready[1]);
    close(r.go[0]);
    close(r.stop[0]);
    close(r.result[1]);
    for (unsigned i = 0; i < WRITERS + READERS; i++) {
        tu_wait_readable(r.ready[0]);
        cr_assert_eq(tu_read_all(r.ready[0], &c, 1), 0, "a child died before it was ready: %s", tu_child_errors());
    }
    close(r.go[1]);
    for (unsigned i = 0; i < WRITERS; i++)
        tu_expect_exit_ok(writers[i], "writer");
    close(r.stop[1]);
    for (unsigned i = 0; i < READERS; i++)
        tu_expect_exit_ok(readers[i], "reader");
    for (got = 0; tu_read_all(r.result[0], &rep, sizeof rep) == 0; got++) {
        conflicts += rep.conflicts;
        if (rep.is_reader)
            fprintf(stderr, "reader %u: %llu rounds, %llu of them while writers ran\n", rep.id,
                    (unsigned long long)rep.passes, (unsigned long long)rep.partial);
    }
    cr_assert_eq(got, WRITERS + READERS);
    fprintf(stderr, "%u writers x %u records: %llu conflicts\n", WRITERS, per_writer, (unsigned long long)conflicts);
    close(r.ready[0]);
    close(r.result[0]);

    s = tu_open_store(r.path, flags);
    j = tu_open_journal(s, "race");
    cr_assert_eq(journal_bounds(j, &begin, &end), 0);
    cr_assert_eq(begin, 0);
    cr_assert_eq(end, total, "end %llu, expected %llu", (unsigned long long)end, (unsigned long long)total);
    sc.seed = r.seed;
    rc = journal_range(j, 0, final_cb, &sc);
    cr_assert_eq(rc, 0, "journal_range: %s", journal_strerror(rc));
    cr_assert_eq(sc.next, total);
    for (unsigned w = 0; w < WRITERS; w++)
        cr_assert_eq(sc.next_seq[w], per_writer, "writer %u has %u records of %u", w, sc.next_seq[w], per_writer);
    rc = journal_store_check(s, NULL, NULL);
    cr_assert_eq(rc, 0, "journal_store_check: %s", journal_strerror(rc));
    free(sc.sums);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    tu_procs_fini();
}

TestSuite(procs, .init = tu_setup, .fini = tu_teardown, .timeout = 120);

Test(procs, racing_writers_without_sync_keep_every_record_once_in_order)
{
    const char *vg = getenv("JOURNAL_TEST_VALGRIND");
    /* Under valgrind, each process is some 30 times slower. */
    race(JOURNAL_NOSYNC, vg && *vg && strcmp(vg, "0") != 0 ? 100 : 400);
}

Test(procs, racing_writers_with_default_durability_keep_every_record_once_in_order)
{
    race(0, 40);
}
