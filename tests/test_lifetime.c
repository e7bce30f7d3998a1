/*
 * test_lifetime.c - handle lifetimes on the call orders the contract
 * allows: a snapshot outlives the journal handle it was begun from; a
 * journal, snapshot or store closed from inside a callback of a call on it
 * stays alive until that call returns (or, for the store, refuses to close
 * with JOURNAL_EBUSY); a store with open handles refuses to close. Run
 * under AddressSanitizer (make test SANITIZE=address,undefined), any read
 * of freed memory in these orders fails the test.
 */
#include "util.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NREC 8

TestSuite(lifetime, .init = tu_setup, .fini = tu_teardown, .timeout = 60);

/* A store with journal "j" holding "r0" .. "r7". */
static journal_store *filled(journal **jout)
{
    journal_store *s = tu_open_store(tu_store(), JOURNAL_NOSYNC);
    journal *j = tu_open_journal(s, "j");
    char rec[8];
    for (journal_pos i = 0; i < NREC; i++) {
        int n = snprintf(rec, sizeof rec, "r%u", (unsigned)i);
        cr_assert_eq(journal_append(j, i, rec, (size_t)n), 0);
    }
    *jout = j;
    return s;
}

static void assert_rec(const void *rec, size_t len, journal_pos pos)
{
    char want[8];
    int n = snprintf(want, sizeof want, "r%u", (unsigned)pos);
    cr_assert_eq(len, (size_t)n, "record %u has %zu bytes", (unsigned)pos, len);
    cr_assert_eq(memcmp(rec, want, len), 0, "record %u differs", (unsigned)pos);
}

struct seen {
    journal *j;
    journal_snapshot *snap;
    journal_store *s;
    journal_pos next;
    int close_at; /* position at which the callback closes something */
    int rc;       /* what that close returned */
};

static int count_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *c = arg;
    cr_assert_eq(pos, c->next);
    assert_rec(rec, len, pos);
    c->next++;
    return 0;
}

Test(lifetime, a_snapshot_works_after_its_journal_is_closed)
{
    journal *j;
    journal_store *s = filled(&j);
    journal_snapshot *snap;
    journal_pos b, e;
    const void *rec;
    size_t len;
    struct seen c = {0};

    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_snapshot_bounds(snap, &b, &e), 0);
    cr_assert_eq(b, 0);
    cr_assert_eq(e, NREC);
    cr_assert_eq(journal_snapshot_get(snap, 3, &rec, &len), 0);
    assert_rec(rec, len, 3);
    cr_assert_eq(journal_snapshot_range(snap, 0, count_cb, &c), 0);
    cr_assert_eq(c.next, NREC);
    cr_assert_eq(journal_snapshot_renew(snap), 0);
    cr_assert_eq(journal_snapshot_get(snap, NREC - 1, &rec, &len), 0);
    assert_rec(rec, len, NREC - 1);
    /* The snapshot still holds the store open. */
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    journal_snapshot_end(snap);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(lifetime, snapshots_of_a_closed_journal_end_in_any_order)
{
    journal *j;
    journal_store *s = filled(&j);
    journal_snapshot *snap[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(journal_snapshot_begin(j, &snap[i]), 0);
    cr_assert_eq(journal_close(j), 0);
    journal_snapshot_end(snap[1]);
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    journal_snapshot_end(snap[0]);
    journal_snapshot_end(snap[2]);
    cr_assert_eq(journal_store_close(s), 0);
}

static int close_journal_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *c = arg;
    count_cb(arg, pos, rec, len);
    if ((int)pos == c->close_at) {
        c->rc = journal_close(c->j);
        /* The store still has the running range open. */
        cr_assert_eq(journal_store_close(c->s), JOURNAL_EBUSY);
    }
    return 0;
}

Test(lifetime, closing_the_journal_inside_its_range_callback_finishes_the_range)
{
    journal *j;
    journal_store *s = filled(&j);
    struct seen c = {.j = j, .s = s, .close_at = 2};
    cr_assert_eq(journal_range(j, 0, close_journal_cb, &c), 0);
    cr_assert_eq(c.rc, 0);
    cr_assert_eq(c.next, NREC, "the range stopped at %u", (unsigned)c.next);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(lifetime, closing_the_journal_inside_the_last_callback_of_its_range)
{
    journal *j;
    journal_store *s = filled(&j);
    struct seen c = {.j = j, .s = s, .close_at = NREC - 1};
    cr_assert_eq(journal_range(j, 0, close_journal_cb, &c), 0);
    cr_assert_eq(c.next, NREC);
    cr_assert_eq(journal_store_close(s), 0);
}

static int close_and_stop_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *c = arg;
    count_cb(arg, pos, rec, len);
    c->rc = journal_close(c->j);
    return -EOWNERDEAD; /* any code of the caller's: returned unchanged */
}

Test(lifetime, closing_the_journal_inside_its_range_callback_and_stopping)
{
    journal *j;
    journal_store *s = filled(&j);
    struct seen c = {.j = j, .s = s};
    cr_assert_eq(journal_range(j, 0, close_and_stop_cb, &c), -EOWNERDEAD);
    cr_assert_eq(c.next, 1);
    cr_assert_eq(journal_store_close(s), 0);
}

/* Nested: a range inside a range of the same journal, the inner callback
 * closes the journal. */
static int inner_close_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *c = arg;
    (void)rec;
    (void)len;
    if (pos == 0)
        c->rc = journal_close(c->j);
    return JOURNAL_STOP;
}

static int outer_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *c = arg;
    struct seen inner = {.j = c->j};
    count_cb(arg, pos, rec, len);
    if (pos == 0)
        cr_assert_eq(journal_range(c->j, 0, inner_close_cb, &inner), 0);
    return 0;
}

Test(lifetime, closing_the_journal_in_a_nested_range_finishes_both)
{
    journal *j;
    journal_store *s = filled(&j);
    struct seen c = {.j = j, .s = s};
    cr_assert_eq(journal_range(j, 0, outer_cb, &c), 0);
    cr_assert_eq(c.next, NREC);
    cr_assert_eq(journal_store_close(s), 0);
}

static int end_snapshot_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *c = arg;
    count_cb(arg, pos, rec, len);
    if ((int)pos == c->close_at) {
        journal_snapshot_end(c->snap);
        cr_assert_eq(journal_close(c->j), 0);
    }
    return 0;
}

Test(lifetime, ending_a_snapshot_inside_its_range_callback_finishes_the_range)
{
    journal *j;
    journal_store *s = filled(&j);
    struct seen c = {.j = j, .s = s, .close_at = 1};
    cr_assert_eq(journal_snapshot_begin(j, &c.snap), 0);
    cr_assert_eq(journal_snapshot_range(c.snap, 0, end_snapshot_cb, &c), 0);
    cr_assert_eq(c.next, NREC);
    cr_assert_eq(journal_store_close(s), 0);
}

static int renew_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *c = arg;
    count_cb(arg, pos, rec, len);
    if (pos == 0)
        c->rc = journal_snapshot_renew(c->snap);
    return 0;
}

Test(lifetime, renewing_a_snapshot_inside_its_range_callback_is_ebusy)
{
    journal *j;
    journal_store *s = filled(&j);
    struct seen c = {.j = j, .s = s};
    const void *rec;
    size_t len;
    cr_assert_eq(journal_snapshot_begin(j, &c.snap), 0);
    cr_assert_eq(journal_snapshot_range(c.snap, 0, renew_cb, &c), 0);
    cr_assert_eq(c.rc, JOURNAL_EBUSY, "renew inside the range: %s", journal_strerror(c.rc));
    cr_assert_eq(c.next, NREC);
    /* The snapshot is intact and renews once the range is over. */
    cr_assert_eq(journal_snapshot_get(c.snap, 0, &rec, &len), 0);
    assert_rec(rec, len, 0);
    cr_assert_eq(journal_snapshot_renew(c.snap), 0);
    journal_snapshot_end(c.snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

static int close_store_in_list_cb(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct seen *c = arg;
    (void)name;
    (void)begin;
    (void)end;
    c->rc = journal_store_close(c->s);
    c->next++;
    return 0;
}

Test(lifetime, closing_the_store_inside_its_list_callback_is_ebusy)
{
    journal *j;
    journal_store *s = filled(&j);
    struct seen c = {.s = s};
    journal *k = tu_open_journal(s, "k");
    journal_close(k);
    journal_close(j);
    cr_assert_eq(journal_store_list(s, close_store_in_list_cb, &c), 0);
    cr_assert_eq(c.rc, JOURNAL_EBUSY);
    cr_assert_eq(c.next, 2);
    cr_assert_eq(journal_store_close(s), 0);
}

static int cmp_close_cb(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *c = arg;
    (void)rec;
    (void)len;
    if (c->j) {
        c->rc = journal_close(c->j);
        c->j = NULL;
    }
    return pos < 5 ? -1 : pos > 5 ? 1 : 0;
}

Test(lifetime, closing_the_journal_inside_a_search_comparison)
{
    journal *j;
    journal_store *s = filled(&j);
    struct seen c = {.j = j};
    journal_pos pos = 0;
    cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, cmp_close_cb, &c, &pos), 0);
    cr_assert_eq(pos, 5);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(lifetime, a_store_with_open_journals_or_snapshots_refuses_to_close_and_stays_usable)
{
    journal *j;
    journal_store *s = filled(&j);
    journal_snapshot *snap;
    void *rec;
    size_t len;
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    cr_assert_eq(journal_get(j, 1, &rec, &len), 0);
    assert_rec(rec, len, 1);
    free(rec);
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    journal_snapshot_end(snap);
    cr_assert_eq(journal_store_close(s), 0);
}
