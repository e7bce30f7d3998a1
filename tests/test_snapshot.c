/*
 * test_snapshot.c - read snapshots: a fixed view whose pointers stay valid
 * while others write, renew, bounds, range, many at once, and moving
 * between threads.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

TestSuite(snapshot, .init = tu_setup, .fini = tu_teardown);

static void append_r(journal *j, journal_pos pos)
{
    char rec[32];
    snprintf(rec, sizeof rec, "r%llu", (unsigned long long)pos);
    tu_append_str(j, pos, rec);
}

static void assert_snap_bounds(journal_snapshot *snap, journal_pos begin, journal_pos end)
{
    journal_pos b = 1234, e = 5678;
    int rc = journal_snapshot_bounds(snap, &b, &e);
    cr_assert_eq(rc, 0, "snapshot bounds: %s", journal_strerror(rc));
    cr_assert_eq(b, begin, "begin %llu, expected %llu", (unsigned long long)b, (unsigned long long)begin);
    cr_assert_eq(e, end, "end %llu, expected %llu", (unsigned long long)e, (unsigned long long)end);
}

static const void *snap_r(journal_snapshot *snap, journal_pos pos)
{
    const void *rec = NULL;
    size_t len = 0;
    char want[32];
    int rc = journal_snapshot_get(snap, pos, &rec, &len);
    snprintf(want, sizeof want, "r%llu", (unsigned long long)pos);
    cr_assert_eq(rc, 0, "snapshot get %llu: %s", (unsigned long long)pos, journal_strerror(rc));
    cr_assert_eq(len, strlen(want), "snapshot get %llu: length %zu", (unsigned long long)pos, len);
    cr_assert_arr_eq(rec, want, len, "snapshot get %llu: wrong bytes", (unsigned long long)pos);
    return rec;
}

static void snap_not_found(journal_snapshot *snap, journal_pos pos)
{
    const void *rec;
    size_t len;
    int rc = journal_snapshot_get(snap, pos, &rec, &len);
    cr_assert_eq(rc, JOURNAL_ENOTFOUND, "snapshot get %llu: %s", (unsigned long long)pos, journal_strerror(rc));
}

Test(snapshot, pointers_stay_valid_and_unchanged_while_others_append_and_truncate)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    journal_snapshot *snap;
    const void *ptr[50];
    unsigned char copy[50][1000];
    size_t len[50];
    unsigned char rec[1000];

    for (journal_pos i = 0; i < 50; i++) {
        memset(rec, (int)(i + 1), sizeof rec);
        cr_assert_eq(journal_append(j, i, rec, (size_t)(i * 20)), 0);
    }
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    for (journal_pos i = 0; i < 50; i++) {
        cr_assert_eq(journal_snapshot_get(snap, i, &ptr[i], &len[i]), 0);
        cr_assert_eq(len[i], i * 20);
        memcpy(copy[i], ptr[i], len[i]);
    }

    /* Rewrite the pages under the snapshot: remove everything it sees and
     * append enough that freed pages would be reused if they could be. */
    cr_assert_eq(journal_truncate(j, 50), 0);
    for (journal_pos i = 50; i < 400; i++) {
        memset(rec, 0xEE, sizeof rec);
        cr_assert_eq(journal_append(j, i, rec, sizeof rec), 0);
    }
    cr_assert_eq(journal_truncate(j, 300), 0);

    for (journal_pos i = 0; i < 50; i++) {
        const void *again;
        size_t l;
        cr_assert_eq(memcmp(ptr[i], copy[i], len[i]), 0, "record %llu changed under the snapshot",
                     (unsigned long long)i);
        cr_assert_eq(journal_snapshot_get(snap, i, &again, &l), 0, "record %llu", (unsigned long long)i);
        cr_assert_eq(l, len[i]);
        cr_assert_eq(memcmp(again, copy[i], l), 0);
    }
    assert_snap_bounds(snap, 0, 50);
    snap_not_found(snap, 50);
    snap_not_found(snap, 350);

    cr_assert_eq(journal_snapshot_renew(snap), 0);
    assert_snap_bounds(snap, 300, 400);
    snap_not_found(snap, 0);
    snap_not_found(snap, 299);
    {
        const void *p;
        size_t l;
        cr_assert_eq(journal_snapshot_get(snap, 399, &p, &l), 0);
        cr_assert_eq(l, sizeof rec);
        cr_assert_eq(memcmp(p, rec, l), 0);
    }
    journal_snapshot_end(snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(snapshot, sees_the_state_when_it_began_until_renewed)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    journal_snapshot *snap;
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    assert_snap_bounds(snap, 0, 0);
    snap_not_found(snap, 0);
    append_r(j, 0);
    append_r(j, 1);
    assert_snap_bounds(snap, 0, 0);
    snap_not_found(snap, 0);
    cr_assert_eq(journal_snapshot_renew(snap), 0);
    assert_snap_bounds(snap, 0, 2);
    snap_r(snap, 0);
    snap_r(snap, 1);
    cr_assert_eq(journal_truncate(j, 1), 0);
    append_r(j, 2);
    assert_snap_bounds(snap, 0, 2);
    snap_r(snap, 0);
    snap_not_found(snap, 2);
    cr_assert_eq(journal_snapshot_renew(snap), 0);
    assert_snap_bounds(snap, 1, 3);
    snap_not_found(snap, 0);
    snap_r(snap, 2);
    journal_snapshot_end(snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(snapshot, get_outside_its_bounds_gives_enotfound)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 6);
    journal_snapshot *snap;
    cr_assert_eq(journal_truncate(j, 2), 0);
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    snap_not_found(snap, 0);
    snap_not_found(snap, 1);
    snap_r(snap, 2);
    snap_r(snap, 5);
    snap_not_found(snap, 6);
    snap_not_found(snap, 7);
    snap_not_found(snap, JOURNAL_POS_MAX);
    journal_snapshot_end(snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(snapshot, renewed_many_times_keeps_one_reader_slot)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 1);
    journal_snapshot *snap;
    journal_stat before, after;
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_store_stat(s, &before), 0);
    for (journal_pos i = 1; i < 100; i++) {
        append_r(j, i);
        cr_assert_eq(journal_snapshot_renew(snap), 0);
        assert_snap_bounds(snap, 0, i + 1);
        snap_r(snap, i);
    }
    cr_assert_eq(journal_store_stat(s, &after), 0);
    if (tu_is_lmdb())
        cr_assert_eq(after.readers_used, before.readers_used);
    journal_snapshot_end(snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

struct seen {
    journal *j; /* when set, the callback appends to it */
    size_t stop_after;
    int ret;
    journal_pos pos[16];
    size_t n;
};

static int record_seen(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *w = arg;
    char want[32];
    snprintf(want, sizeof want, "r%llu", (unsigned long long)pos);
    cr_assert_lt(w->n, 16, "too many records delivered");
    cr_assert_eq(len, strlen(want));
    cr_assert_arr_eq(rec, want, len);
    w->pos[w->n++] = pos;
    if (w->j) {
        journal_pos e;
        cr_assert_eq(journal_bounds(w->j, NULL, &e), 0);
        append_r(w->j, e);
    }
    if (w->stop_after && w->n == w->stop_after)
        return w->ret;
    return 0;
}

Test(snapshot, range_delivers_the_snapshot_view)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 5);
    journal_snapshot *snap;
    struct seen w = {.j = j};
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    append_r(j, 5);
    cr_assert_eq(journal_truncate(j, 3), 0);
    /* The callback appends too; neither its records nor the ones above
     * are delivered, and the truncated ones are. */
    cr_assert_eq(journal_snapshot_range(snap, 1, record_seen, &w), 0);
    cr_assert_eq(w.n, 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(w.pos[i], i + 1);

    w = (struct seen){.stop_after = 2, .ret = JOURNAL_STOP};
    cr_assert_eq(journal_snapshot_range(snap, 0, record_seen, &w), 0);
    cr_assert_eq(w.n, 2);
    w = (struct seen){.stop_after = 1, .ret = -4242};
    cr_assert_eq(journal_snapshot_range(snap, 3, record_seen, &w), -4242);
    cr_assert_eq(w.n, 1);

    w = (struct seen){0};
    cr_assert_eq(journal_snapshot_range(snap, 5, record_seen, &w), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_snapshot_range(snap, JOURNAL_POS_MAX, record_seen, &w), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_snapshot_renew(snap), 0);
    cr_assert_eq(journal_snapshot_range(snap, 2, record_seen, &w), JOURNAL_ENOTFOUND);
    cr_assert_eq(w.n, 0, "the callback was called");
    cr_assert_eq(journal_snapshot_range(snap, 3, record_seen, &w), 0);
    cr_assert_eq(w.n, 7, "records 3..9 after renew");
    journal_snapshot_end(snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(snapshot, a_thousand_open_at_once_in_one_process, .timeout = 60)
{
    enum { N = 1000, EVERY = 50 };
    /* On PostgreSQL each snapshot holds a connection, and a server allows
     * about a hundred: the limit is the server's there. */
    tu_require_lmdb();
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 1);
    journal_snapshot **snaps = calloc(N, sizeof *snaps);
    cr_assert_not_null(snaps);
    for (int i = 0; i < N; i++) {
        int rc;
        if (i > 0 && i % EVERY == 0)
            append_r(j, (journal_pos)(i / EVERY));
        rc = journal_snapshot_begin(j, &snaps[i]);
        cr_assert_eq(rc, 0, "snapshot %d: %s", i, journal_strerror(rc));
    }
    cr_assert_eq(journal_truncate(j, N / EVERY), 0);
    for (int i = 0; i < N; i++) {
        journal_pos last = (journal_pos)(i / EVERY);
        assert_snap_bounds(snaps[i], 0, last + 1);
        snap_r(snaps[i], 0);
        snap_r(snaps[i], last);
    }
    for (int i = 0; i < N; i++)
        journal_snapshot_end(snaps[i]);
    free(snaps);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

struct hand_over {
    journal *j;
    journal_snapshot *snap;
    int rc;
    int ok;
};

/* Uses and ends a snapshot another thread began. */
static void *use_and_end(void *arg)
{
    struct hand_over *h = arg;
    const void *rec;
    size_t len;
    h->rc = journal_snapshot_get(h->snap, 1, &rec, &len);
    h->ok = h->rc == 0 && len == 2 && memcmp(rec, "r1", 2) == 0;
    journal_snapshot_end(h->snap);
    h->snap = NULL;
    return NULL;
}

/* Begins a snapshot for another thread to use and end. */
static void *begin_only(void *arg)
{
    struct hand_over *h = arg;
    h->rc = journal_snapshot_begin(h->j, &h->snap);
    return NULL;
}

Test(snapshot, may_be_ended_in_another_thread_than_it_began_in)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 2);
    struct hand_over h = {.j = j};
    pthread_t t;

    cr_assert_eq(journal_snapshot_begin(j, &h.snap), 0);
    append_r(j, 2);
    cr_assert_eq(pthread_create(&t, NULL, use_and_end, &h), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(h.rc, 0, "get in the other thread: %s", journal_strerror(h.rc));
    cr_assert(h.ok, "the other thread read the wrong record");

    cr_assert_eq(pthread_create(&t, NULL, begin_only, &h), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
    cr_assert_eq(h.rc, 0, "begin in the other thread: %s", journal_strerror(h.rc));
    assert_snap_bounds(h.snap, 0, 3);
    snap_r(h.snap, 2);
    append_r(j, 3);
    cr_assert_eq(journal_snapshot_renew(h.snap), 0);
    snap_r(h.snap, 3);
    journal_snapshot_end(h.snap);

    /* Both snapshots really ended: nothing but the journal keeps the store
     * open. */
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}
