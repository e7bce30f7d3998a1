/*
 * test_growth.c - the memory map grows while another process uses the store
 * (LMDB backend).
 *
 * The store starts with a 64 KiB map. Process B appends until its map has
 * been enlarged several times, and after each enlargement it waits while
 * process A, whose map is still the size it was, works on the store:
 *   - without a snapshot, A reads (bounds, get, range) and appends, and must
 *     see no error at all;
 *   - holding a snapshot taken before B started, A reads through it and must
 *     see the same bounds and the same bytes, at the same addresses, each
 *     time. At the end A appends while still holding the snapshot: the
 *     header allows JOURNAL_EBUSY there (its map must grow and cannot while
 *     the snapshot is open); then nothing may have been written, the
 *     snapshot must still be intact, and once it ends the append works;
 *   - holding that snapshot, A reads outside it (bounds, get, a second
 *     snapshot): the header lists no JOURNAL_EBUSY for these, so they must
 *     succeed although A's map is smaller than the data.
 * Records name their writer and sequence number, and carry a checksum of
 * themselves, so either process can check any record it reads.
 */
#include "util.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_START (64u * 1024)
/* B appends until its map is at least this large: several doublings. */
#define MAP_TARGET (4u * 1024 * 1024)
#define PREFILL 40
#define BATCH 8
/* Records B may append in one phase before the test gives up on growth. */
#define PHASE_CAP 20000

enum writer { W_PARENT, W_B, W_A, W_COUNT };

/* ------------------------------------------------------------------------ */
/* Records                                                                  */

/* Self-checking records (tu_rec_make()) of up to REC_BODY_MAX bytes of
 * body. */
#define REC_BODY_MAX 3000
#define REC_MAX TU_REC_MAX(REC_BODY_MAX)

/* 1 when rec is exactly the record its header names (writer and sequence
 * number set), else 0. */
static int rec_valid(uint64_t seed, const void *rec, size_t len, uint32_t *writer, uint32_t *seq)
{
    return tu_rec_check(seed, REC_BODY_MAX, W_COUNT, rec, len, writer, seq) == NULL;
}

/* Checks records in journal order: positions contiguous from `next`, each
 * record valid, and, when `ordered` (the scan starts at 0), each writer's
 * records in their order with none missing. */
struct scan {
    uint64_t seed;
    journal_pos next;
    int ordered;
    uint32_t next_seq[W_COUNT];
};

static const char *scan_record(struct scan *sc, journal_pos pos, const void *rec, size_t len)
{
    static char problem[160];
    uint32_t w, seq;
    if (pos != sc->next) {
        snprintf(problem, sizeof problem, "position %llu where %llu was due", (unsigned long long)pos,
                 (unsigned long long)sc->next);
        return problem;
    }
    if (!rec_valid(sc->seed, rec, len, &w, &seq)) {
        snprintf(problem, sizeof problem, "record at %llu (%zu bytes) is damaged", (unsigned long long)pos, len);
        return problem;
    }
    if (sc->ordered && seq != sc->next_seq[w]++) {
        snprintf(problem, sizeof problem, "record at %llu is #%u of writer %u, expected #%u", (unsigned long long)pos,
                 seq, w, sc->next_seq[w] - 1);
        return problem;
    }
    sc->next++;
    return NULL;
}

static int scan_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    const char *problem = scan_record(arg, pos, rec, len);
    if (problem)
        tu_child_fail("range: %s", problem);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The two processes                                                        */

/* What A does while B grows the map. */
enum mode {
    PLAIN,         /* reads and appends, no snapshot */
    SNAPSHOT,      /* holds a snapshot, reads through it, appends at the end */
    SNAPSHOT_READS /* holds a snapshot, reads outside it at the end */
};

struct growth {
    const char *path;
    uint64_t seed;
    enum mode mode;
    int b2a[2]; /* B -> A: one struct phase after each enlargement */
    int a2b[2]; /* A -> B: one byte when ready, then one per phase done */
    int result[2];
};

/* B's message after an enlargement of its map, or at the end (done). */
struct phase {
    uint64_t map_size, end, done;
};

struct result {
    uint32_t who;         /* W_A or W_B */
    uint32_t phases;      /* enlargements of B's map that A worked through */
    uint64_t appends;     /* records this process appended */
    uint64_t map_first;   /* this process's map size at its start ... */
    uint64_t map_last;    /* ... and at its end */
    int32_t busy_append;  /* A, SNAPSHOT: its append's result, snapshot held */
    int32_t busy_bounds;  /* A, SNAPSHOT_READS: journal_bounds()'s, snapshot held */
    int32_t busy_get;     /* ... journal_get()'s */
    int32_t busy_snap;    /* ... journal_snapshot_begin()'s */
    uint64_t phase_reads; /* A: records it read and checked */
};

static journal_store *child_open(struct growth *g, journal **j)
{
    journal_options o = {0};
    journal_store *s;
    int rc;
    o.map_size = MAP_START;
    o.flags = JOURNAL_NOSYNC;
    rc = journal_store_open(g->path, &o, &s);
    if (rc != 0)
        tu_child_fail("journal_store_open: %s", journal_strerror(rc));
    rc = journal_open(s, "growth", j);
    if (rc != 0)
        tu_child_fail("journal_open: %s", journal_strerror(rc));
    return s;
}

static uint64_t map_size(journal_store *s)
{
    journal_stat st;
    int rc = journal_store_stat(s, &st);
    if (rc != 0)
        tu_child_fail("journal_store_stat: %s", journal_strerror(rc));
    return st.map_size;
}

static void child_close(struct growth *g, journal_store *s, journal *j, const struct result *res)
{
    int rc;
    journal_close(j);
    rc = journal_store_close(s);
    if (rc != 0)
        tu_child_fail("journal_store_close: %s", journal_strerror(rc));
    if (tu_write_all(g->result[1], res, sizeof *res) != 0)
        tu_child_fail("cannot report");
}

/* Appends writer w's record seq at the end, retrying on conflicts; returns
 * the position written. */
static journal_pos append_one(struct growth *g, journal *j, uint32_t w, uint32_t seq)
{
    unsigned char rec[REC_MAX];
    size_t len = tu_rec_make(g->seed, w, seq, REC_BODY_MAX, rec);
    journal_pos end;
    int rc;
    do {
        rc = journal_bounds(j, NULL, &end);
        if (rc != 0)
            tu_child_fail("writer %u: journal_bounds: %s", w, journal_strerror(rc));
        rc = journal_append(j, end, rec, len);
    } while (rc == JOURNAL_ECONFLICT);
    if (rc != 0)
        tu_child_fail("writer %u: journal_append at %llu: %s", w, (unsigned long long)end, journal_strerror(rc));
    return end;
}

static void process_b(void *arg)
{
    struct growth *g = arg;
    struct result res = {.who = W_B};
    static unsigned char bytes[BATCH][REC_MAX];
    journal_record recs[BATCH];
    journal_store *s;
    journal *j;
    char c;
    close(g->b2a[0]);
    close(g->a2b[1]);
    close(g->result[0]);
    s = child_open(g, &j);
    res.map_first = map_size(s);
    if (tu_read_all(g->a2b[0], &c, 1) != 0)
        tu_child_fail("B: A never got ready");
    for (;;) {
        uint64_t before = map_size(s), now = before, in_phase = 0;
        struct phase ph = {0};
        while (now == before) {
            journal_pos end;
            int rc;
            for (size_t i = 0; i < BATCH; i++) {
                recs[i].data = bytes[i];
                recs[i].len = tu_rec_make(g->seed, W_B, (uint32_t)(res.appends + i), REC_BODY_MAX, bytes[i]);
            }
            do {
                rc = journal_bounds(j, NULL, &end);
                if (rc != 0)
                    tu_child_fail("B: journal_bounds: %s", journal_strerror(rc));
                rc = journal_append_batch(j, end, recs, BATCH);
            } while (rc == JOURNAL_ECONFLICT);
            if (rc != 0)
                tu_child_fail("B: journal_append_batch at %llu: %s", (unsigned long long)end, journal_strerror(rc));
            res.appends += BATCH;
            in_phase += BATCH;
            if (in_phase > PHASE_CAP)
                tu_child_fail("B: the map stayed at %llu bytes for %llu records", (unsigned long long)before,
                              (unsigned long long)in_phase);
            now = map_size(s);
            ph.end = end + BATCH;
        }
        if (now < before)
            tu_child_fail("B: the map shrank from %llu to %llu", (unsigned long long)before, (unsigned long long)now);
        ph.map_size = now;
        ph.done = now >= MAP_TARGET;
        res.phases++;
        if (tu_write_all(g->b2a[1], &ph, sizeof ph) != 0)
            tu_child_fail("B: A is gone");
        if (ph.done)
            break;
        /* A works on the store, with its smaller map, before B goes on. */
        if (tu_read_all(g->a2b[0], &c, 1) != 0)
            tu_child_fail("B: A is gone");
    }
    res.map_last = map_size(s);
    child_close(g, s, j, &res);
}

/* Checks a record read by A outside the snapshot. */
static void check_get(struct growth *g, journal *j, journal_pos pos, struct result *res)
{
    void *rec;
    size_t len;
    uint32_t w, seq;
    int rc = journal_get(j, pos, &rec, &len);
    if (rc != 0)
        tu_child_fail("A: journal_get(%llu): %s", (unsigned long long)pos, journal_strerror(rc));
    if (!rec_valid(g->seed, rec, len, &w, &seq))
        tu_child_fail("A: record at %llu is damaged", (unsigned long long)pos);
    free(rec);
    res->phase_reads++;
}

/* A's work between two enlargements, without a snapshot: every kind of
 * read, then an append, all of which must succeed. */
static void a_plain_round(struct growth *g, journal *j, const struct phase *ph, uint64_t *rng, struct result *res)
{
    struct scan sc = {.seed = g->seed};
    journal_pos begin, end;
    int rc = journal_bounds(j, &begin, &end);
    if (rc != 0)
        tu_child_fail("A: journal_bounds: %s", journal_strerror(rc));
    if (begin != 0 || end < ph->end)
        tu_child_fail("A: bounds [%llu, %llu) after B reached %llu", (unsigned long long)begin, (unsigned long long)end,
                      (unsigned long long)ph->end);
    check_get(g, j, end - 1, res);
    for (int i = 0; i < 8; i++)
        check_get(g, j, tu_rand(rng) % end, res);
    sc.next = tu_rand(rng) % end;
    rc = journal_range(j, sc.next, scan_cb, &sc);
    if (rc != 0 || sc.next != end)
        tu_child_fail("A: journal_range: %s, stopped at %llu of %llu", journal_strerror(rc),
                      (unsigned long long)sc.next, (unsigned long long)end);
    res->phase_reads += end - begin;
    append_one(g, j, W_A, (uint32_t)res->appends++);
}

/* What A saw through its snapshot when it began: each record's address
 * and a copy of its bytes. */
struct seen {
    journal_pos begin, end;
    const void *ptr[PREFILL];
    size_t len[PREFILL];
    unsigned char *copy[PREFILL];
};

/* A's work between two enlargements, holding its snapshot: the same bounds,
 * the same bytes at the same addresses, by get and by range. */
static void a_snapshot_round(struct growth *g, journal_snapshot *snap, const struct seen *sn, struct result *res)
{
    struct scan sc = {.seed = g->seed, .ordered = 1};
    journal_pos begin, end;
    int rc = journal_snapshot_bounds(snap, &begin, &end);
    if (rc != 0 || begin != sn->begin || end != sn->end)
        tu_child_fail("A: snapshot bounds %s, [%llu, %llu), were [%llu, %llu)", journal_strerror(rc),
                      (unsigned long long)begin, (unsigned long long)end, (unsigned long long)sn->begin,
                      (unsigned long long)sn->end);
    for (journal_pos pos = begin; pos < end; pos++) {
        const void *rec;
        size_t len;
        if (memcmp(sn->ptr[pos], sn->copy[pos], sn->len[pos]) != 0)
            tu_child_fail("A: the bytes behind the snapshot's pointer for %llu changed", (unsigned long long)pos);
        rc = journal_snapshot_get(snap, pos, &rec, &len);
        if (rc != 0)
            tu_child_fail("A: journal_snapshot_get(%llu): %s", (unsigned long long)pos, journal_strerror(rc));
        if (len != sn->len[pos] || memcmp(rec, sn->copy[pos], len) != 0)
            tu_child_fail("A: the snapshot's record %llu changed", (unsigned long long)pos);
    }
    rc = journal_snapshot_range(snap, begin, scan_cb, &sc);
    if (rc != 0 || sc.next != end)
        tu_child_fail("A: journal_snapshot_range: %s, stopped at %llu of %llu", journal_strerror(rc),
                      (unsigned long long)sc.next, (unsigned long long)end);
    res->phase_reads += 2 * (end - begin);
}

/* A, after B's last enlargement, still holding the snapshot, in SNAPSHOT
 * mode: an append, which may fail with JOURNAL_EBUSY, but must then have
 * written nothing and left the snapshot intact, and works once the
 * snapshot has ended. */
static void a_snapshot_append(struct growth *g, journal *j, journal_snapshot **snap, const struct seen *sn,
                              const struct phase *ph, struct result *res)
{
    unsigned char rec[REC_MAX];
    size_t len = tu_rec_make(g->seed, W_A, 0, REC_BODY_MAX, rec);
    journal_pos end;
    int rc;
    res->busy_append = journal_append(j, ph->end, rec, len);
    if (res->busy_append == 0)
        res->appends++;
    else if (res->busy_append != JOURNAL_EBUSY)
        tu_child_fail("A: journal_append with a snapshot open: %s", journal_strerror(res->busy_append));
    /* Whatever the append did, the snapshot must not have moved. */
    a_snapshot_round(g, *snap, sn, res);
    journal_snapshot_end(*snap);
    *snap = NULL;
    rc = journal_bounds(j, NULL, &end);
    if (rc != 0)
        tu_child_fail("A: journal_bounds after the snapshot ended: %s", journal_strerror(rc));
    if (end != ph->end + (res->busy_append == 0))
        tu_child_fail("A: end %llu after an append that returned %s at %llu", (unsigned long long)end,
                      journal_strerror(res->busy_append), (unsigned long long)ph->end);
    if (res->busy_append != 0) {
        rc = journal_append(j, end, rec, len);
        if (rc != 0)
            tu_child_fail("A: journal_append once the snapshot ended: %s", journal_strerror(rc));
        res->appends++;
    }
}

/* A, after B's last enlargement, still holding the snapshot, in
 * SNAPSHOT_READS mode: reads outside the snapshot, whose results the
 * parent checks; what they return when they succeed must be right, and
 * the snapshot must not have moved. */
static void a_snapshot_reads(struct growth *g, journal *j, journal_snapshot **snap, const struct seen *sn,
                             const struct phase *ph, struct result *res)
{
    journal_snapshot *other;
    journal_pos end = 0;
    void *got;
    size_t got_len;
    res->busy_bounds = journal_bounds(j, NULL, &end);
    if (res->busy_bounds == 0 && end != ph->end)
        tu_child_fail("A: journal_bounds says end %llu, B's end is %llu", (unsigned long long)end,
                      (unsigned long long)ph->end);
    res->busy_get = journal_get(j, ph->end - 1, &got, &got_len);
    if (res->busy_get == 0) {
        uint32_t w, seq;
        if (!rec_valid(g->seed, got, got_len, &w, &seq) || w != W_B)
            tu_child_fail("A: B's last record reads back wrong");
        free(got);
    }
    res->busy_snap = journal_snapshot_begin(j, &other);
    if (res->busy_snap == 0) {
        if (journal_snapshot_bounds(other, NULL, &end) != 0 || end != ph->end)
            tu_child_fail("A: a second snapshot does not see B's end %llu", (unsigned long long)ph->end);
        journal_snapshot_end(other);
    }
    a_snapshot_round(g, *snap, sn, res);
    journal_snapshot_end(*snap);
    *snap = NULL;
}

static void process_a(void *arg)
{
    struct growth *g = arg;
    struct result res = {.who = W_A};
    struct seen sn = {0};
    struct scan sc = {.seed = g->seed, .ordered = 1};
    journal_snapshot *snap = NULL;
    struct phase ph;
    uint64_t rng = g->seed;
    journal_store *s;
    journal *j;
    char c = 1;
    int rc;
    close(g->b2a[1]);
    close(g->a2b[0]);
    close(g->result[0]);
    s = child_open(g, &j);
    res.map_first = map_size(s);
    if (g->mode != PLAIN) {
        rc = journal_snapshot_begin(j, &snap);
        if (rc != 0)
            tu_child_fail("A: journal_snapshot_begin: %s", journal_strerror(rc));
        rc = journal_snapshot_bounds(snap, &sn.begin, &sn.end);
        if (rc != 0 || sn.begin != 0 || sn.end != PREFILL)
            tu_child_fail("A: snapshot bounds %s [%llu, %llu)", journal_strerror(rc), (unsigned long long)sn.begin,
                          (unsigned long long)sn.end);
        for (journal_pos pos = 0; pos < PREFILL; pos++) {
            rc = journal_snapshot_get(snap, pos, &sn.ptr[pos], &sn.len[pos]);
            if (rc != 0)
                tu_child_fail("A: journal_snapshot_get(%llu): %s", (unsigned long long)pos, journal_strerror(rc));
            sn.copy[pos] = malloc(sn.len[pos]);
            if (!sn.copy[pos])
                tu_child_fail("A: out of memory");
            memcpy(sn.copy[pos], sn.ptr[pos], sn.len[pos]);
        }
    }
    if (tu_write_all(g->a2b[1], &c, 1) != 0)
        tu_child_fail("A: B is gone");
    for (;;) {
        if (tu_read_all(g->b2a[0], &ph, sizeof ph) != 0)
            tu_child_fail("A: B is gone");
        res.phases++;
        if (g->mode != PLAIN)
            a_snapshot_round(g, snap, &sn, &res);
        else
            a_plain_round(g, j, &ph, &rng, &res);
        if (ph.done)
            break;
        if (tu_write_all(g->a2b[1], &c, 1) != 0)
            tu_child_fail("A: B is gone");
    }
    if (g->mode == SNAPSHOT)
        a_snapshot_append(g, j, &snap, &sn, &ph, &res);
    else if (g->mode == SNAPSHOT_READS)
        a_snapshot_reads(g, j, &snap, &sn, &ph, &res);
    /* Everything, in order, from A's own grown map. */
    rc = journal_range(j, 0, scan_cb, &sc);
    if (rc != 0)
        tu_child_fail("A: the final journal_range: %s", journal_strerror(rc));
    if (sc.next_seq[W_A] != res.appends)
        tu_child_fail("A: %u of A's %llu records found", sc.next_seq[W_A], (unsigned long long)res.appends);
    res.map_last = map_size(s);
    for (size_t i = 0; i < PREFILL; i++)
        free(sn.copy[i]);
    child_close(g, s, j, &res);
}

static int final_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    const char *problem = scan_record(arg, pos, rec, len);
    cr_assert_null(problem, "final check: %s", problem);
    return 0;
}

static void grow_under(enum mode mode)
{
    static const char *const names[] = {"", " under a snapshot", " under a snapshot, reading outside it"};
    struct growth g = {.mode = mode};
    struct result res, a = {0}, b = {0};
    struct scan sc = {.ordered = 1};
    journal_options o = {0};
    unsigned char rec[REC_MAX];
    journal_store *s;
    journal *j;
    journal_pos end;
    pid_t pa, pb;
    int rc;

    tu_require_lmdb();
    g.seed = tu_seed("JOURNAL_TEST_SEED");
    g.path = tu_store();
    tu_procs_init();
    o.map_size = MAP_START;
    rc = journal_store_open(g.path, &o, &s);
    cr_assert_eq(rc, 0, "journal_store_open: %s", journal_strerror(rc));
    j = tu_open_journal(s, "growth");
    for (uint32_t i = 0; i < PREFILL; i++)
        cr_assert_eq(journal_append(j, i, rec, tu_rec_make(g.seed, W_PARENT, i, REC_BODY_MAX, rec)), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    cr_assert_eq(pipe(g.b2a), 0);
    cr_assert_eq(pipe(g.a2b), 0);
    cr_assert_eq(pipe(g.result), 0);
    pa = tu_spawn(process_a, &g);
    pb = tu_spawn(process_b, &g);
    close(g.b2a[0]);
    close(g.b2a[1]);
    close(g.a2b[0]);
    close(g.a2b[1]);
    close(g.result[1]);
    tu_expect_exit_ok(pb, "B");
    tu_expect_exit_ok(pa, "A");
    while (tu_read_all(g.result[0], &res, sizeof res) == 0)
        *(res.who == W_A ? &a : &b) = res;
    close(g.result[0]);
    cr_assert(a.who == W_A && b.who == W_B, "a process did not report");
    fprintf(stderr,
            "growth%s: B grew its map %u times, %llu -> %llu bytes, %llu records; A's map %llu -> %llu, %llu records "
            "read, %llu appended\n",
            names[mode], b.phases, (unsigned long long)b.map_first, (unsigned long long)b.map_last,
            (unsigned long long)b.appends, (unsigned long long)a.map_first, (unsigned long long)a.map_last,
            (unsigned long long)a.phase_reads, (unsigned long long)a.appends);
    if (mode == SNAPSHOT)
        fprintf(stderr, "growth: A's journal_append with its snapshot open: %s\n", journal_strerror(a.busy_append));
    if (mode == SNAPSHOT_READS) {
        fprintf(stderr,
                "growth: with its snapshot open, A's journal_bounds: %s; journal_get: %s; "
                "journal_snapshot_begin: %s\n",
                journal_strerror(a.busy_bounds), journal_strerror(a.busy_get), journal_strerror(a.busy_snap));
        /* The CAVEATS of journal.h: reading beyond this process's map needs
         * a remap, which would pull the memory from under the snapshot, so
         * these give JOURNAL_EBUSY while it stays open, and work (the final
         * range below) once it ends. */
        cr_expect_eq(a.busy_bounds, JOURNAL_EBUSY, "journal_bounds: %s", journal_strerror(a.busy_bounds));
        cr_expect_eq(a.busy_get, JOURNAL_EBUSY, "journal_get: %s", journal_strerror(a.busy_get));
        cr_expect_eq(a.busy_snap, JOURNAL_EBUSY, "journal_snapshot_begin: %s", journal_strerror(a.busy_snap));
    }
    cr_assert_geq(b.phases, 3, "B's map grew only %u times", b.phases);
    cr_assert_eq(a.phases, b.phases);
    cr_assert_geq(b.map_last, MAP_TARGET);
    /* A read data beyond the map it started with: it must have grown. */
    cr_assert_gt(a.map_last, a.map_first, "A's map stayed at %llu bytes", (unsigned long long)a.map_last);

    s = tu_open_store(g.path, 0);
    j = tu_open_journal(s, "growth");
    cr_assert_eq(journal_bounds(j, NULL, &end), 0);
    cr_assert_eq(end, PREFILL + b.appends + a.appends);
    sc.seed = g.seed;
    rc = journal_range(j, 0, final_cb, &sc);
    cr_assert_eq(rc, 0, "journal_range: %s", journal_strerror(rc));
    cr_assert_eq(sc.next, end);
    cr_assert_eq(sc.next_seq[W_PARENT], PREFILL);
    cr_assert_eq(sc.next_seq[W_B], b.appends);
    cr_assert_eq(sc.next_seq[W_A], a.appends);
    rc = journal_store_check(s, NULL, NULL);
    cr_assert_eq(rc, 0, "journal_store_check: %s", journal_strerror(rc));
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    tu_procs_fini();
}

TestSuite(growth, .init = tu_setup, .fini = tu_teardown, .timeout = 120);

Test(growth, map_grown_by_another_process_is_invisible_to_reads_and_appends)
{
    grow_under(PLAIN);
}

Test(growth, snapshot_stays_intact_while_another_process_grows_the_map)
{
    grow_under(SNAPSHOT);
}

Test(growth, reads_beyond_the_map_wait_for_this_process_snapshot_to_end)
{
    grow_under(SNAPSHOT_READS);
}

/* ------------------------------------------------------------------------ */
/* Opening while another process grows the store                            */

#define OPENS 10000
#define OPEN_REC 1500

/* Built with AddressSanitizer (GCC says so one way, clang another). */
#if defined(__SANITIZE_ADDRESS__)
#define GROWTH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GROWTH_ASAN 1
#endif
#endif
#ifndef GROWTH_ASAN
#define GROWTH_ASAN 0
#endif

struct opener_writer {
    const char *path;
    int ready; /* write end: one byte once the writer appends */
};

/* Appends for ever (the test kills it), so that the data keeps outgrowing
 * the map of every process that opens the store with a small map. */
static void growing_writer(void *arg)
{
    struct opener_writer *w = arg;
    journal_options o = {.map_size = MAP_START, .flags = JOURNAL_NOSYNC};
    unsigned char rec[OPEN_REC];
    journal_store *s;
    journal *j;
    journal_pos end;
    int rc;

    memset(rec, 0x5a, sizeof rec);
    if ((rc = journal_store_open(w->path, &o, &s)) != 0 || (rc = journal_open(s, "grow", &j)) != 0)
        tu_child_fail("writer: open: %s", journal_strerror(rc));
    if ((rc = journal_bounds(j, NULL, &end)) != 0)
        tu_child_fail("writer: bounds: %s", journal_strerror(rc));
    for (uint64_t n = 0;; n++) {
        if ((rc = journal_append(j, end, rec, sizeof rec)) != 0)
            tu_child_fail("writer: append at %llu: %s", (unsigned long long)end, journal_strerror(rc));
        end++;
        if (n == 0 && tu_write_all(w->ready, "x", 1) != 0)
            tu_child_fail("writer: pipe");
    }
}

/*
 * A commit between mdb_env_open() and open's first read transaction that
 * takes the data past the opener's map gives LMDB's MDB_MAP_RESIZED there:
 * open must adopt the new size, as every later read does, not fail.
 */
Test(growth, opens_racing_a_growing_writer_never_fail, .timeout = 300)
{
    struct opener_writer w = {tu_store(), -1};
    journal_options o = {.map_size = MAP_START};
    int fds[2], failures = 0, first = 0;
    /* Under a sanitizer or valgrind, where an open costs ten times more,
     * the point is memory safety on this path, not the count. */
    unsigned opens = getenv("JOURNAL_TEST_VALGRIND") ? OPENS / 20 : GROWTH_ASAN ? OPENS / 5 : OPENS;
    journal_store *s;
    char c;
    pid_t pid;

    tu_require_lmdb();
    tu_procs_init();
    s = tu_open_store(w.path, 0);
    cr_assert_eq(journal_store_close(s), 0);
    cr_assert_eq(pipe(fds), 0);
    w.ready = fds[1];
    pid = tu_spawn(growing_writer, &w);
    close(fds[1]);
    tu_wait_readable(fds[0]);
    cr_assert_eq(tu_read_all(fds[0], &c, 1), 0, "the writer did not start: %s", tu_child_errors());
    for (unsigned i = 0; i < opens; i++) {
        int rc;
        /* Half read-only, as journal-dump opens, half read-write. */
        o.flags = i % 2 ? JOURNAL_RDONLY : 0;
        rc = journal_store_open(w.path, &o, &s);
        if (rc == 0) {
            journal_stat st;
            rc = journal_store_stat(s, &st);
            cr_assert_eq(journal_store_close(s), 0);
        }
        if (rc != 0 && failures++ == 0)
            first = rc;
    }
    kill(pid, SIGKILL);
    tu_reap(pid);
    close(fds[0]);
    tu_procs_fini();
    cr_assert_eq(failures, 0, "%d of %u opens failed, the first with %s", failures, opens, journal_strerror(first));
}
