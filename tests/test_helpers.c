/*
 * test_helpers.c - the helpers of lib/helpers.c: journal_first/last,
 * journal_search, journal_lower_bound, journal_append_retry,
 * journal_is_fresh and journal_is_empty, errors included.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

TestSuite(helpers, .init = tu_setup, .fini = tu_teardown);

/* Appends one 8-byte big-endian key at the current end. */
static void append_key(journal *j, uint64_t key)
{
    unsigned char buf[8];
    journal_pos end;
    tu_put_be64(buf, key);
    cr_assert_eq(journal_bounds(j, NULL, &end), 0);
    cr_assert_eq(journal_append(j, end, buf, sizeof buf), 0);
}

static void append_keys(journal *j, const uint64_t *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        append_key(j, keys[i]);
}

/* Comparison of a record's 8-byte key with the target; it also checks that
 * the search only looks inside the range it was given. */
struct cmp_arg {
    uint64_t target;
    journal_pos lo, hi; /* positions cmp may be called with */
    unsigned calls;
};

static int cmp_key(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct cmp_arg *a = arg;
    uint64_t key;
    cr_assert_eq(len, 8);
    cr_assert(pos >= a->lo && pos < a->hi, "cmp called at %llu outside [%llu, %llu)", (unsigned long long)pos,
              (unsigned long long)a->lo, (unsigned long long)a->hi);
    a->calls++;
    key = tu_get_be64(rec);
    return key < a->target ? -1 : key > a->target;
}

/* ---------------------------------------------------------- first, last */

Test(helpers, first_and_last_return_the_oldest_and_newest_records)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    uint64_t keys[] = {100, 101, 102, 103, 104};
    journal_pos pos = 99;
    void *rec = NULL;
    size_t len = 0;

    append_keys(j, keys, 5);
    cr_assert_eq(journal_truncate(j, 2), 0);

    cr_assert_eq(journal_first(j, &pos, &rec, &len), 0);
    cr_assert_eq(pos, 2);
    cr_assert_eq(len, 8);
    cr_assert_eq(tu_get_be64(rec), 102);
    free(rec);

    cr_assert_eq(journal_last(j, &pos, &rec, &len), 0);
    cr_assert_eq(pos, 4);
    cr_assert_eq(len, 8);
    cr_assert_eq(tu_get_be64(rec), 104);
    free(rec);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, first_and_last_accept_a_null_position)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    void *rec = NULL;
    size_t len = 0;

    cr_assert_eq(journal_append(j, 0, "only", 4), 0);
    cr_assert_eq(journal_first(j, NULL, &rec, &len), 0);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(rec, "only", 4), 0);
    free(rec);
    cr_assert_eq(journal_last(j, NULL, &rec, &len), 0);
    cr_assert_eq(len, 4);
    cr_assert_eq(memcmp(rec, "only", 4), 0);
    free(rec);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, first_gives_a_non_null_pointer_for_an_empty_record)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    void *rec = NULL;
    size_t len = 7;

    cr_assert_eq(journal_append(j, 0, NULL, 0), 0);
    cr_assert_eq(journal_first(j, NULL, &rec, &len), 0);
    cr_assert_not_null(rec);
    cr_assert_eq(len, 0);
    free(rec);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, first_and_last_reject_null_arguments)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    void *rec = NULL;
    size_t len = 0;

    cr_assert_eq(journal_append(j, 0, "x", 1), 0);
    cr_assert_eq(journal_first(NULL, NULL, &rec, &len), -EINVAL);
    cr_assert_eq(journal_first(j, NULL, NULL, &len), -EINVAL);
    cr_assert_eq(journal_first(j, NULL, &rec, NULL), -EINVAL);
    cr_assert_eq(journal_last(NULL, NULL, &rec, &len), -EINVAL);
    cr_assert_eq(journal_last(j, NULL, NULL, &len), -EINVAL);
    cr_assert_eq(journal_last(j, NULL, &rec, NULL), -EINVAL);
    cr_assert_null(rec);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, first_and_last_of_an_empty_journal_are_not_found)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    journal_pos pos = 42;
    void *rec = NULL;
    size_t len = 42;

    /* A new journal, then one whose every record was truncated. */
    cr_assert_eq(journal_first(j, &pos, &rec, &len), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_last(j, &pos, &rec, &len), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    cr_assert_eq(journal_append(j, 1, "b", 1), 0);
    cr_assert_eq(journal_truncate(j, 2), 0);
    cr_assert_eq(journal_first(j, &pos, &rec, &len), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_last(j, &pos, &rec, &len), JOURNAL_ENOTFOUND);
    /* Nothing is set on failure. */
    cr_assert_eq(pos, 42);
    cr_assert_null(rec);
    cr_assert_eq(len, 42);

    journal_close(j);
    journal_store_close(s);
}

/* A child process truncates the journal one record at a time while the
 * parent calls journal_first() in a loop. Reading the bounds and then the
 * record in two transactions would sometimes find the record gone; in one
 * snapshot, first() fails only once the journal is really empty, and
 * always returns a record that matches its position. */
Test(helpers, first_is_not_disturbed_by_a_racing_truncation)
{
    enum { N = 400 };
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, JOURNAL_NOSYNC);
    journal *j = tu_open_journal(s, "j");
    journal_record recs[N];
    unsigned char keys[N][8];
    journal_pos pos, last_pos = 0;
    int ready[2], status, rc;
    unsigned found = 0;
    char c;
    pid_t pid;

    for (int i = 0; i < N; i++) {
        tu_put_be64(keys[i], (uint64_t)i);
        recs[i].data = keys[i];
        recs[i].len = 8;
    }
    cr_assert_eq(journal_append_batch(j, 0, recs, N), 0);
    cr_assert_eq(pipe(ready), 0);
    fflush(NULL);
    pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* The child opens the store itself: handles do not survive fork. */
        journal_store *cs = NULL;
        journal *cj = NULL;
        int bad = journal_store_open(path, &(journal_options){.flags = JOURNAL_NOSYNC}, &cs) != 0 ||
                  journal_open(cs, "j", &cj) != 0;
        close(ready[0]);
        if (write(ready[1], "g", 1) != 1)
            bad = 1;
        for (journal_pos t = 1; !bad && t <= N; t++)
            bad = journal_truncate(cj, t) != 0;
        journal_close(cj);
        journal_store_close(cs);
        _exit(bad);
    }
    close(ready[1]);
    cr_assert_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);

    for (;;) {
        void *rec = NULL;
        size_t len = 0;
        rc = journal_first(j, &pos, &rec, &len);
        if (rc != 0)
            break;
        cr_assert_eq(len, 8);
        cr_assert_eq(tu_get_be64(rec), pos, "record at %llu holds %llu", (unsigned long long)pos,
                     (unsigned long long)tu_get_be64(rec));
        cr_assert_geq(pos, last_pos);
        last_pos = pos;
        found++;
        free(rec);
    }
    cr_assert_eq(rc, JOURNAL_ENOTFOUND, "journal_first: %s", journal_strerror(rc));
    /* Not-found must mean empty: no append happens after the truncations. */
    cr_assert_eq(journal_is_empty(j), 1, "journal_first() said not found while records remained");
    cr_assert_gt(found, 0);
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the truncating child failed");

    journal_close(j);
    journal_store_close(s);
}

/* --------------------------------------------------- search, lower bound */

Test(helpers, search_finds_a_record_that_compares_equal)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    uint64_t keys[] = {10, 20, 30, 40, 50, 60, 70};
    struct cmp_arg a = {.lo = 0, .hi = 7};
    journal_pos pos = 99;

    append_keys(j, keys, 7);
    for (int i = 0; i < 7; i++) {
        a.target = keys[i];
        cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), 0);
        cr_assert_eq(pos, (journal_pos)i);
    }

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, search_reports_not_found_for_a_missing_key)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    uint64_t keys[] = {10, 20, 30, 40};
    uint64_t missing[] = {5, 25, 45};
    struct cmp_arg a = {.lo = 0, .hi = 4};
    journal_pos pos = 99;

    append_keys(j, keys, 4);
    for (int i = 0; i < 3; i++) {
        a.target = missing[i];
        cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    }
    cr_assert_eq(pos, 99, "*pos is set only on success");

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, search_looks_only_inside_the_given_range_and_the_bounds)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    uint64_t keys[] = {10, 20, 30, 40, 50, 60};
    struct cmp_arg a;
    journal_pos pos;

    append_keys(j, keys, 6);
    cr_assert_eq(journal_truncate(j, 1), 0);

    /* [2, 4): 30 and 40 are inside, 20 and 50 outside. */
    a = (struct cmp_arg){.target = 40, .lo = 2, .hi = 4};
    cr_assert_eq(journal_search(j, 2, 4, cmp_key, &a, &pos), 0);
    cr_assert_eq(pos, 3);
    a.target = 20;
    cr_assert_eq(journal_search(j, 2, 4, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    a.target = 50;
    cr_assert_eq(journal_search(j, 2, 4, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);

    /* The truncated record 10 is gone; `to` past the end is clipped. */
    a = (struct cmp_arg){.target = 10, .lo = 1, .hi = 6};
    cr_assert_eq(journal_search(j, 0, 1000, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    a.target = 60;
    cr_assert_eq(journal_search(j, 0, 1000, cmp_key, &a, &pos), 0);
    cr_assert_eq(pos, 5);

    /* An empty or inverted range finds nothing and compares nothing. */
    a = (struct cmp_arg){.target = 30, .lo = 0, .hi = 0};
    cr_assert_eq(journal_search(j, 4, 4, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_search(j, 5, 2, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_search(j, 6, JOURNAL_POS_MAX, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    cr_assert_eq(a.calls, 0);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, search_and_lower_bound_of_an_empty_journal_are_not_found)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct cmp_arg a = {.target = 1, .lo = 0, .hi = 0};
    journal_pos pos;

    cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, search_and_lower_bound_reject_null_arguments)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct cmp_arg a = {.target = 1, .lo = 0, .hi = 0};
    journal_pos pos;

    cr_assert_eq(journal_search(NULL, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), -EINVAL);
    cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, NULL, &a, &pos), -EINVAL);
    cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, cmp_key, &a, NULL), -EINVAL);
    cr_assert_eq(journal_lower_bound(NULL, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), -EINVAL);
    cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, NULL, &a, &pos), -EINVAL);
    cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, cmp_key, &a, NULL), -EINVAL);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, lower_bound_finds_the_first_record_not_before_the_target)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    /* Duplicates: the lower bound must be the first of them. */
    uint64_t keys[] = {10, 20, 20, 20, 30, 40, 40};
    struct cmp_arg a = {.lo = 0, .hi = 7};
    struct {
        uint64_t target;
        journal_pos want;
    } cases[] = {{0, 0}, {10, 0}, {11, 1}, {20, 1}, {25, 4}, {30, 4}, {40, 5}};
    journal_pos pos;

    append_keys(j, keys, 7);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        a.target = cases[i].target;
        cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), 0);
        cr_assert_eq(pos, cases[i].want, "lower bound of %llu: %llu, want %llu", (unsigned long long)a.target,
                     (unsigned long long)pos, (unsigned long long)cases[i].want);
    }

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, lower_bound_past_every_record_is_not_found)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    uint64_t keys[] = {10, 20, 30};
    struct cmp_arg a = {.target = 31, .lo = 0, .hi = 3};
    journal_pos pos = 99;

    append_keys(j, keys, 3);
    cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    /* Within [0, 2), 30 is out of reach too. */
    a = (struct cmp_arg){.target = 25, .lo = 0, .hi = 2};
    cr_assert_eq(journal_lower_bound(j, 0, 2, cmp_key, &a, &pos), JOURNAL_ENOTFOUND);
    cr_assert_eq(pos, 99);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, lower_bound_starts_at_the_range_and_the_journal_begin)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    uint64_t keys[] = {10, 20, 30, 40, 50};
    struct cmp_arg a;
    journal_pos pos;

    append_keys(j, keys, 5);
    a = (struct cmp_arg){.target = 0, .lo = 2, .hi = 4};
    cr_assert_eq(journal_lower_bound(j, 2, 4, cmp_key, &a, &pos), 0);
    cr_assert_eq(pos, 2);

    cr_assert_eq(journal_truncate(j, 3), 0);
    a = (struct cmp_arg){.target = 0, .lo = 3, .hi = 5};
    cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), 0);
    cr_assert_eq(pos, 3);

    journal_close(j);
    journal_store_close(s);
}

/* A binary search over 1000 records needs at most 10 or 11 comparisons; a
 * linear scan would need hundreds. */
Test(helpers, search_compares_a_logarithmic_number_of_records)
{
    enum { N = 1000 };
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    journal_record recs[N];
    unsigned char keys[N][8];
    struct cmp_arg a = {.lo = 0, .hi = N};
    journal_pos pos;

    for (int i = 0; i < N; i++) {
        tu_put_be64(keys[i], 2 * (uint64_t)i);
        recs[i].data = keys[i];
        recs[i].len = 8;
    }
    cr_assert_eq(journal_append_batch(j, 0, recs, N), 0);
    a.target = 2 * 777 + 1;
    cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), 0);
    cr_assert_eq(pos, 778);
    cr_assert_leq(a.calls, 11);
    a.calls = 0;
    a.target = 2 * 123;
    cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, cmp_key, &a, &pos), 0);
    cr_assert_eq(pos, 123);
    cr_assert_leq(a.calls, 11);

    journal_close(j);
    journal_store_close(s);
}

/* ---------------------------------------------------------- append_retry */

/* What the resolve callback saw and what it answers. */
struct resolve_arg {
    unsigned calls;
    journal_pos ends[4]; /* the ends it was called with */
    int answer;          /* returned from each call */
    const char *replace; /* when set, the record to retry with */
    journal *racer;      /* when set, appends "race" once, before the first retry */
};

static int resolve(void *arg, journal_pos end, const void **rec, size_t *len)
{
    struct resolve_arg *a = arg;
    cr_assert_lt(a->calls, 4, "resolve called too often");
    a->ends[a->calls++] = end;
    if (a->racer) {
        cr_assert_eq(journal_append(a->racer, end, "race", 4), 0);
        a->racer = NULL;
    }
    if (a->replace) {
        *rec = a->replace;
        *len = strlen(a->replace);
    }
    return a->answer;
}

Test(helpers, append_retry_appends_at_the_end_without_calling_fn)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct resolve_arg a = {.answer = 0};
    journal_pos written = 99;

    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    cr_assert_eq(journal_append_retry(j, 1, "b", 1, resolve, &a, &written), 0);
    cr_assert_eq(written, 1);
    cr_assert_eq(a.calls, 0);
    /* written may be NULL. */
    cr_assert_eq(journal_append_retry(j, 2, "c", 1, resolve, &a, NULL), 0);
    tu_assert_str(j, 2, "c");

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, append_retry_resolves_a_conflict_at_the_new_end)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct resolve_arg a = {.answer = 0, .replace = "rebuilt"};
    journal_pos written = 99, end;

    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    cr_assert_eq(journal_append(j, 1, "b", 1), 0);
    cr_assert_eq(journal_append(j, 2, "c", 1), 0);
    cr_assert_eq(journal_append_retry(j, 1, "stale", 5, resolve, &a, &written), 0);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(a.ends[0], 3);
    cr_assert_eq(written, 3);
    tu_assert_str(j, 3, "rebuilt");
    cr_assert_eq(journal_bounds(j, NULL, &end), 0);
    cr_assert_eq(end, 4);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, append_retry_retries_until_the_append_succeeds)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    journal *other = tu_open_journal(s, "j");
    /* The first retry loses a race to another writer, the second wins. */
    struct resolve_arg a = {.answer = 0, .racer = other};
    journal_pos written = 99;

    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    cr_assert_eq(journal_append_retry(j, 0, "mine", 4, resolve, &a, &written), 0);
    cr_assert_eq(a.calls, 2);
    cr_assert_eq(a.ends[0], 1);
    cr_assert_eq(a.ends[1], 2);
    cr_assert_eq(written, 2);
    tu_assert_str(j, 1, "race");
    tu_assert_str(j, 2, "mine");

    journal_close(other);
    journal_close(j);
    journal_store_close(s);
}

Test(helpers, append_retry_gives_up_with_a_conflict_on_stop)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct resolve_arg a = {.answer = JOURNAL_STOP};
    journal_pos written = 99, end;

    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    cr_assert_eq(journal_append_retry(j, 0, "b", 1, resolve, &a, &written), JOURNAL_ECONFLICT);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(written, 99, "written is set only on success");
    cr_assert_eq(journal_bounds(j, NULL, &end), 0);
    cr_assert_eq(end, 1, "nothing was appended");

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, append_retry_without_fn_returns_the_conflict)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    journal_pos end;

    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    cr_assert_eq(journal_append_retry(j, 0, "b", 1, NULL, NULL, NULL), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_bounds(j, NULL, &end), 0);
    cr_assert_eq(end, 1);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, append_retry_passes_a_negative_code_of_fn_through)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct resolve_arg a = {.answer = -ECANCELED};
    journal_pos end;

    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    cr_assert_eq(journal_append_retry(j, 0, "b", 1, resolve, &a, NULL), -ECANCELED);
    cr_assert_eq(a.calls, 1);
    cr_assert_eq(journal_bounds(j, NULL, &end), 0);
    cr_assert_eq(end, 1);

    journal_close(j);
    journal_store_close(s);
}

Test(helpers, append_retry_returns_other_append_errors_without_calling_fn)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct resolve_arg a = {.answer = 0};

    cr_assert_eq(journal_append_retry(j, 5, "b", 1, resolve, &a, NULL), JOURNAL_EBEYOND);
    cr_assert_eq(journal_append_retry(j, 0, NULL, 1, resolve, &a, NULL), -EINVAL);
    cr_assert_eq(journal_append_retry(NULL, 0, "b", 1, resolve, &a, NULL), -EINVAL);
    cr_assert_eq(a.calls, 0);

    journal_close(j);
    journal_store_close(s);
}

/* ------------------------------------------------------ is_fresh, is_empty */

Test(helpers, is_fresh_and_is_empty_follow_the_bounds)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");

    cr_assert_eq(journal_is_fresh(j), 1);
    cr_assert_eq(journal_is_empty(j), 1);
    cr_assert_eq(journal_append(j, 0, "a", 1), 0);
    cr_assert_eq(journal_is_fresh(j), 0);
    cr_assert_eq(journal_is_empty(j), 0);
    cr_assert_eq(journal_truncate(j, 1), 0);
    /* Emptied, but it held a record once. */
    cr_assert_eq(journal_is_fresh(j), 0);
    cr_assert_eq(journal_is_empty(j), 1);

    cr_assert_eq(journal_is_fresh(NULL), -EINVAL);
    cr_assert_eq(journal_is_empty(NULL), -EINVAL);

    journal_close(j);
    journal_store_close(s);
}
