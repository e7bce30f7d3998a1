/*
 * test_store.c - the store's contract: open and close, read-only stores,
 * argument checks, listing, errors and version, statistics, counters,
 * sync, copy, check, and the size limits of the LMDB backend.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"

TestSuite(store, .init = tu_setup, .fini = tu_teardown);

static int path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* One journal as journal_store_list() reports it. */
struct listed {
    char *name;
    journal_pos begin, end;
};

struct listing {
    struct listed *v;
    size_t n;
    size_t stop_after; /* return JOURNAL_STOP after this many; 0: never */
    int fail_with;     /* return this at the stop_after-th call instead */
};

static int collect(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct listing *l = arg;
    struct listed *v = realloc(l->v, (l->n + 1) * sizeof *v);
    cr_assert_not_null(v);
    l->v = v;
    v[l->n].name = strdup(name);
    cr_assert_not_null(v[l->n].name);
    v[l->n].begin = begin;
    v[l->n].end = end;
    l->n++;
    if (l->stop_after && l->n == l->stop_after)
        return l->fail_with ? l->fail_with : JOURNAL_STOP;
    return 0;
}

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int never_called(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    (void)arg;
    (void)name;
    (void)begin;
    (void)end;
    cr_assert_fail("the list callback was called");
    return 0;
}

/* ------------------------------------------------------------------ open */

Test(store, creates_its_directory_with_the_given_mode_when_missing)
{
    journal_options o = {0};
    journal_store *s = NULL;
    struct stat st;
    const char *path;
    char *data;
    tu_require_lmdb();
    path = tu_path("store");
    umask(022);
    o.mode = 0640;
    cr_assert_eq(journal_store_open(path, &o, &s), 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    /* The directory gets the execute bits wherever the files are readable. */
    cr_assert_eq(st.st_mode & 0777, 0750, "directory mode %o", (unsigned)(st.st_mode & 0777));
    cr_assert(asprintf(&data, "%s/data.mdb", path) > 0);
    cr_assert_eq(stat(data, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640, "data file mode %o", (unsigned)(st.st_mode & 0777));
    free(data);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, creates_files_0644_and_the_directory_0755_by_default)
{
    journal_store *s;
    struct stat st;
    const char *path;
    char *data;
    tu_require_lmdb();
    path = tu_path("store");
    umask(022);
    s = tu_open_store(path, 0);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0755, "directory mode %o", (unsigned)(st.st_mode & 0777));
    cr_assert(asprintf(&data, "%s/data.mdb", path) > 0);
    cr_assert_eq(stat(data, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644, "data file mode %o", (unsigned)(st.st_mode & 0777));
    free(data);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, opens_an_existing_empty_directory)
{
    journal_store *s;
    journal *j;
    const char *path;
    tu_require_lmdb();
    path = tu_path("empty");
    cr_assert_eq(mkdir(path, 0755), 0);
    s = tu_open_store(path, 0);
    j = tu_open_journal(s, "a");
    tu_append_str(j, 0, "x");
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, reopen_keeps_journals_and_records)
{
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, 0);
    journal *a = tu_open_journal(s, "alpha"), *b = tu_open_journal(s, "beta");
    tu_append_str(a, 0, "a0");
    tu_append_str(a, 1, "a1");
    tu_append_str(b, 0, "b0");
    journal_close(a);
    journal_close(b);
    cr_assert_eq(journal_store_close(s), 0);

    s = tu_open_store(path, 0);
    a = tu_open_journal(s, "alpha");
    b = tu_open_journal(s, "beta");
    tu_assert_bounds(a, 0, 2);
    tu_assert_bounds(b, 0, 1);
    tu_assert_str(a, 0, "a0");
    tu_assert_str(a, 1, "a1");
    tu_assert_str(b, 0, "b0");
    journal_close(a);
    journal_close(b);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, read_only_open_of_a_missing_store_gives_enoent_and_creates_nothing)
{
    journal_options o = {.flags = JOURNAL_RDONLY};
    journal_store *s = NULL;
    const char *path = tu_store();
    cr_assert_eq(journal_store_open(path, &o, &s), -ENOENT);
    cr_assert_null(s, "out was set by a failed open");
    if (tu_is_lmdb())
        cr_assert_not(path_exists(path), "a read-only open created %s", path);
}

Test(store, read_only_open_of_an_empty_directory_gives_enoent_and_creates_nothing)
{
    journal_options o = {.flags = JOURNAL_RDONLY};
    journal_store *s = NULL;
    const char *path;
    char *lock;
    tu_require_lmdb();
    path = tu_path("empty");
    cr_assert_eq(mkdir(path, 0755), 0);
    cr_assert_eq(journal_store_open(path, &o, &s), -ENOENT);
    cr_assert(asprintf(&lock, "%s/lock.mdb", path) > 0);
    cr_assert_not(path_exists(lock), "a read-only open created %s", lock);
    free(lock);
    cr_assert(asprintf(&lock, "%s/data.mdb", path) > 0);
    cr_assert_not(path_exists(lock), "a read-only open created %s", lock);
    free(lock);
}

Test(store, read_only_store_reads_but_refuses_every_write)
{
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, 0);
    journal *j = tu_open_journal(s, "j"), *n = NULL;
    journal_record recs[2] = {{"b0", 2}, {"b1", 2}};
    journal_pos b, e;
    tu_append_str(j, 0, "r0");
    tu_append_str(j, 1, "r1");
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    s = tu_open_store(path, JOURNAL_RDONLY);
    j = tu_open_journal(s, "j");
    tu_assert_bounds(j, 0, 2);
    tu_assert_str(j, 1, "r1");
    cr_assert_eq(journal_append(j, 2, "x", 1), JOURNAL_EREADONLY);
    cr_assert_eq(journal_append_batch(j, 2, recs, 2), JOURNAL_EREADONLY);
    cr_assert_eq(journal_truncate(j, 1), JOURNAL_EREADONLY);
    cr_assert_eq(journal_store_sync(s), JOURNAL_EREADONLY);
    cr_assert_eq(journal_open(s, "new", &n), -ENOENT);
    cr_assert_null(n);
    cr_assert_eq(journal_bounds(j, &b, &e), 0);
    cr_assert_eq(b, 0);
    cr_assert_eq(e, 2);
    tu_assert_str(j, 0, "r0");
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    /* Nothing was written behind the errors either. */
    s = tu_open_store(path, 0);
    cr_assert_eq(journal_open(s, "new", &n), 0);
    tu_assert_bounds(n, 0, 0);
    journal_close(n);
    j = tu_open_journal(s, "j");
    tu_assert_bounds(j, 0, 2);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, a_regular_file_as_path_gives_enotdir_and_stays_unchanged)
{
    journal_store *s = NULL;
    const char *file, *below;
    struct stat st;
    FILE *f;
    tu_require_lmdb();
    file = tu_path("file");
    below = tu_path("file/store");
    f = fopen(file, "w");
    cr_assert_not_null(f);
    cr_assert_geq(fputs("not a store", f), 0);
    cr_assert_eq(fclose(f), 0);

    cr_assert_eq(journal_store_open(file, NULL, &s), -ENOTDIR);
    cr_assert_null(s);
    cr_assert_eq(journal_store_open(below, NULL, &s), -ENOTDIR);
    cr_assert_null(s);
    cr_assert_eq(stat(file, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_size, (off_t)strlen("not a store"));
}

Test(store, unknown_flags_and_bad_options_give_einval_and_create_nothing)
{
    journal_options bad[] = {
        {.flags = 0x8},  {.flags = 0x80000000u | JOURNAL_NOSYNC}, {.mode = 010000}, {.max_size = (64u << 10) - 1},
        {.max_size = 1},
    };
    journal_store *s = NULL;
    const char *path = tu_store();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(journal_store_open(path, &bad[i], &s), -EINVAL, "options %zu", i);
    cr_assert_null(s);
    if (tu_is_lmdb())
        cr_assert_not(path_exists(path), "a refused open created %s", path);

    s = tu_open_store(path, 0);
    cr_assert_eq(journal_store_copy(s, tu_path("copy"), 0x2), -EINVAL);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, empty_and_null_paths_give_einval)
{
    journal_store *s = NULL;
    cr_assert_eq(journal_store_open(NULL, NULL, &s), -EINVAL);
    cr_assert_eq(journal_store_open("", NULL, &s), -EINVAL);
    cr_assert_null(s);
    cr_assert_eq(journal_store_open(tu_store(), NULL, NULL), -EINVAL);
}

static int stop_now(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)arg;
    (void)pos;
    (void)rec;
    (void)len;
    return JOURNAL_STOP;
}

static int cmp_any(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)arg;
    (void)pos;
    (void)rec;
    (void)len;
    return 0;
}

static int resolve_retry(void *arg, journal_pos end, const void **rec, size_t *len)
{
    (void)arg;
    (void)end;
    (void)rec;
    (void)len;
    return 0;
}

Test(store, null_arguments_give_einval_everywhere)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j"), *jx = NULL;
    journal_snapshot *snap = NULL, *sx = NULL;
    journal_stat st;
    journal_counters c;
    journal_record rec = {NULL, 1};
    journal_pos pos, b, e;
    const void *cp;
    void *p;
    size_t len;

    tu_append_str(j, 0, "r0");
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);

    cr_assert_eq(journal_store_sync(NULL), -EINVAL);
    cr_assert_eq(journal_store_list(NULL, never_called, NULL), -EINVAL);
    cr_assert_eq(journal_store_list(s, NULL, NULL), -EINVAL);
    cr_assert_eq(journal_store_copy(NULL, tu_path("copy"), 0), -EINVAL);
    cr_assert_eq(journal_store_copy(s, NULL, 0), -EINVAL);
    cr_assert_eq(journal_store_stat(NULL, &st), -EINVAL);
    cr_assert_eq(journal_store_stat(s, NULL), -EINVAL);
    cr_assert_null(journal_store_path(NULL));
    cr_assert_eq(journal_store_check(NULL, NULL, NULL), -EINVAL);
    cr_assert_eq(journal_store_counters(NULL, &c), -EINVAL);
    cr_assert_eq(journal_store_counters(s, NULL), -EINVAL);

    cr_assert_eq(journal_open(NULL, "j", &jx), -EINVAL);
    cr_assert_eq(journal_open(s, NULL, &jx), -EINVAL);
    cr_assert_null(jx);
    cr_assert_eq(journal_open(s, "j", NULL), -EINVAL);
    cr_assert_eq(journal_bounds(NULL, &b, &e), -EINVAL);
    cr_assert_eq(journal_get(NULL, 0, &p, &len), -EINVAL);
    cr_assert_eq(journal_get(j, 0, NULL, &len), -EINVAL);
    cr_assert_eq(journal_get(j, 0, &p, NULL), -EINVAL);
    cr_assert_eq(journal_range(NULL, 0, stop_now, NULL), -EINVAL);
    cr_assert_eq(journal_range(j, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(journal_append(NULL, 1, "x", 1), -EINVAL);
    cr_assert_eq(journal_append(j, 1, NULL, 1), -EINVAL);
    cr_assert_eq(journal_append_batch(NULL, 1, &rec, 0), -EINVAL);
    cr_assert_eq(journal_append_batch(j, 1, NULL, 1), -EINVAL);
    cr_assert_eq(journal_append_batch(j, 1, &rec, 1), -EINVAL);
    cr_assert_eq(journal_truncate(NULL, 0), -EINVAL);
    cr_assert_eq(journal_wait(NULL, 0, 0), -EINVAL);

    cr_assert_eq(journal_snapshot_begin(NULL, &sx), -EINVAL);
    cr_assert_null(sx);
    cr_assert_eq(journal_snapshot_begin(j, NULL), -EINVAL);
    cr_assert_eq(journal_snapshot_bounds(NULL, &b, &e), -EINVAL);
    cr_assert_eq(journal_snapshot_get(NULL, 0, &cp, &len), -EINVAL);
    cr_assert_eq(journal_snapshot_get(snap, 0, NULL, &len), -EINVAL);
    cr_assert_eq(journal_snapshot_get(snap, 0, &cp, NULL), -EINVAL);
    cr_assert_eq(journal_snapshot_range(NULL, 0, stop_now, NULL), -EINVAL);
    cr_assert_eq(journal_snapshot_range(snap, 0, NULL, NULL), -EINVAL);
    cr_assert_eq(journal_snapshot_renew(NULL), -EINVAL);

    cr_assert_eq(journal_first(NULL, &pos, &p, &len), -EINVAL);
    cr_assert_eq(journal_first(j, &pos, NULL, &len), -EINVAL);
    cr_assert_eq(journal_first(j, &pos, &p, NULL), -EINVAL);
    cr_assert_eq(journal_last(NULL, &pos, &p, &len), -EINVAL);
    cr_assert_eq(journal_last(j, &pos, NULL, &len), -EINVAL);
    cr_assert_eq(journal_last(j, &pos, &p, NULL), -EINVAL);
    cr_assert_eq(journal_search(NULL, 0, JOURNAL_POS_MAX, cmp_any, NULL, &pos), -EINVAL);
    cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, NULL, NULL, &pos), -EINVAL);
    cr_assert_eq(journal_search(j, 0, JOURNAL_POS_MAX, cmp_any, NULL, NULL), -EINVAL);
    cr_assert_eq(journal_lower_bound(NULL, 0, JOURNAL_POS_MAX, cmp_any, NULL, &pos), -EINVAL);
    cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, NULL, NULL, &pos), -EINVAL);
    cr_assert_eq(journal_lower_bound(j, 0, JOURNAL_POS_MAX, cmp_any, NULL, NULL), -EINVAL);
    cr_assert_eq(journal_append_retry(NULL, 1, "x", 1, resolve_retry, NULL, &pos), -EINVAL);
    cr_assert_eq(journal_append_retry(j, 1, NULL, 1, resolve_retry, NULL, &pos), -EINVAL);
    cr_assert_eq(journal_is_fresh(NULL), -EINVAL);
    cr_assert_eq(journal_is_empty(NULL), -EINVAL);

    /* None of the refused calls wrote anything. */
    tu_assert_bounds(j, 0, 1);

    /* Close and end functions accept NULL. */
    journal_snapshot_end(NULL);
    cr_assert_eq(journal_close(NULL), 0);
    cr_assert_eq(journal_store_close(NULL), 0);

    journal_snapshot_end(snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, path_is_the_one_given_to_open)
{
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, 0);
    cr_assert_str_eq(journal_store_path(s), path);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ----------------------------------------------------------------- close */

Test(store, close_is_busy_and_closes_nothing_while_a_journal_or_snapshot_is_open)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    journal_snapshot *snap;

    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    /* Everything still works after the refused close. */
    tu_append_str(j, 0, "r0");
    tu_assert_str(j, 0, "r0");
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    tu_append_str(j, 1, "r1");
    journal_snapshot_end(snap);
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    tu_assert_bounds(j, 0, 2);
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, close_is_busy_while_any_of_several_handles_is_open)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *a = tu_open_journal(s, "j"), *b = tu_open_journal(s, "j"), *c = tu_open_journal(s, "k");
    cr_assert_eq(journal_close(a), 0);
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    cr_assert_eq(journal_close(c), 0);
    cr_assert_eq(journal_store_close(s), JOURNAL_EBUSY);
    tu_append_str(b, 0, "still open");
    cr_assert_eq(journal_close(b), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ------------------------------------------------------------------ list */

Test(store, list_gives_every_journal_in_byte_order_of_names_with_bounds)
{
    /* strcmp() compares as unsigned char: byte order, "\xff" last. */
    char *names[] = {"b", "a", "\xff", "A", "a\x01", "ab", " ", "\x7f", "\x80x", "aa"};
    size_t n = sizeof names / sizeof names[0];
    char *sorted[sizeof names / sizeof names[0]];
    journal_store *s = tu_open_store(tu_store(), 0);
    struct listing l = {0};

    for (size_t i = 0; i < n; i++) {
        journal *j = tu_open_journal(s, names[i]);
        /* Journal i holds i records, the first i/2 of them truncated. */
        for (size_t k = 0; k < i; k++)
            tu_append_str(j, k, names[i]);
        cr_assert_eq(journal_truncate(j, i / 2), 0);
        journal_close(j);
    }
    memcpy(sorted, names, sizeof names);
    qsort(sorted, n, sizeof sorted[0], tu_cmp_strp);

    cr_assert_eq(journal_store_list(s, collect, &l), 0);
    cr_assert_eq(l.n, n);
    for (size_t i = 0; i < n; i++) {
        size_t orig = 0;
        while (strcmp(names[orig], sorted[i]) != 0)
            orig++;
        cr_assert_str_eq(l.v[i].name, sorted[i], "entry %zu", i);
        cr_assert_eq(l.v[i].begin, orig / 2, "begin of entry %zu", i);
        cr_assert_eq(l.v[i].end, orig, "end of entry %zu", i);
    }
    listing_free(&l);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, list_of_an_empty_store_calls_nothing)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    cr_assert_eq(journal_store_list(s, never_called, NULL), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, list_stops_early_on_journal_stop_and_returns_0)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    struct listing l = {.stop_after = 2};
    const char *names[] = {"c", "a", "d", "b"};
    for (size_t i = 0; i < 4; i++)
        journal_close(tu_open_journal(s, names[i]));
    cr_assert_eq(journal_store_list(s, collect, &l), 0);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.v[0].name, "a");
    cr_assert_str_eq(l.v[1].name, "b");
    listing_free(&l);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, list_returns_a_negative_callback_code_unchanged)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    struct listing l = {.stop_after = 1, .fail_with = -12345};
    journal_close(tu_open_journal(s, "a"));
    journal_close(tu_open_journal(s, "b"));
    cr_assert_eq(journal_store_list(s, collect, &l), -12345);
    cr_assert_eq(l.n, 1);
    listing_free(&l);
    l = (struct listing){.stop_after = 2, .fail_with = JOURNAL_ECONFLICT};
    cr_assert_eq(journal_store_list(s, collect, &l), JOURNAL_ECONFLICT);
    cr_assert_eq(l.n, 2);
    listing_free(&l);
    cr_assert_eq(journal_store_close(s), 0);
}

struct writing_lister {
    journal_store *s;
    size_t calls;
};

/* Writes to the store from inside the listing: appends to the journal just
 * listed and creates a new one after it in byte order. */
static int list_and_write(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct writing_lister *w = arg;
    journal *j = NULL, *late = NULL;
    int rc;
    cr_assert_str_neq(name, "zz", "a journal created during the listing was listed");
    cr_assert_eq(begin, 0);
    cr_assert_eq(end, 1, "%s listed with end %llu, not the state when the listing began", name,
                 (unsigned long long)end);
    rc = journal_open(w->s, name, &j);
    cr_assert_eq(rc, 0, "open %s inside the listing: %s", name, journal_strerror(rc));
    rc = journal_append(j, end, "more", 4);
    cr_assert_eq(rc, 0, "append inside the listing: %s", journal_strerror(rc));
    journal_close(j);
    rc = journal_open(w->s, "zz", &late);
    cr_assert_eq(rc, 0, "create inside the listing: %s", journal_strerror(rc));
    journal_close(late);
    w->calls++;
    return 0;
}

Test(store, list_sees_one_state_while_its_callback_writes)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    struct writing_lister w = {s, 0};
    struct listing l = {0};
    const char *names[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        journal *j = tu_open_journal(s, names[i]);
        tu_append_str(j, 0, names[i]);
        journal_close(j);
    }
    cr_assert_eq(journal_store_list(s, list_and_write, &w), 0);
    cr_assert_eq(w.calls, 3);
    cr_assert_eq(journal_store_list(s, collect, &l), 0);
    cr_assert_eq(l.n, 4);
    cr_assert_str_eq(l.v[3].name, "zz");
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(l.v[i].end, 2);
    listing_free(&l);
    cr_assert_eq(journal_store_close(s), 0);
}

/* -------------------------------------------------- errors and version */

struct code_name {
    int code;
    const char *name;
};

#define CODE(c)                                                                                                        \
    {                                                                                                                  \
        c, #c                                                                                                          \
    }
static const struct code_name codes[] = {
    CODE(JOURNAL_ENOTFOUND), CODE(JOURNAL_ECONFLICT), CODE(JOURNAL_EBEYOND), CODE(JOURNAL_EFULL),
    CODE(JOURNAL_ECORRUPT),  CODE(JOURNAL_EVERSION),  CODE(JOURNAL_EBUSY),   CODE(JOURNAL_EREADONLY),
    CODE(JOURNAL_EREADERS),  CODE(JOURNAL_EFORK),
};
#undef CODE

Test(store, strerror_names_every_journal_code)
{
    size_t n = sizeof codes / sizeof codes[0];
    /* The table above must cover the whole block down to JOURNAL_ELAST. */
    cr_assert_eq((int)n, JOURNAL_ENOTFOUND - JOURNAL_ELAST + 1);
    for (size_t i = 0; i < n; i++) {
        const char *msg = journal_strerror(codes[i].code);
        size_t len = strlen(codes[i].name);
        cr_assert_not_null(msg);
        cr_assert_eq(strncmp(msg, codes[i].name, len), 0, "%s: message \"%s\"", codes[i].name, msg);
        cr_assert_eq(msg[len], ':', "%s: message \"%s\" does not go on with ':'", codes[i].name, msg);
        cr_assert_gt(strlen(msg), len + 2, "%s: message \"%s\" says nothing", codes[i].name, msg);
    }
}

Test(store, strerror_gives_strerror_text_for_negated_errno)
{
    int errs[] = {EINVAL, ENOENT, ENOTDIR, EACCES, ENOMEM, EEXIST, ETIMEDOUT, ENOSPC, EIO, EMSGSIZE, E2BIG};
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        char want[256];
        /* Copied: journal_strerror() may reuse strerror()'s buffer. */
        snprintf(want, sizeof want, "%s", strerror(errs[i]));
        cr_assert_str_eq(journal_strerror(-errs[i]), want, "errno %d", errs[i]);
    }
    cr_assert_not_null(journal_strerror(0));
}

Test(store, strerror_gives_a_generic_message_for_unknown_codes)
{
    int unknown[] = {JOURNAL_ELAST - 1, -29000, -5000, 1, 12345, INT_MAX, INT_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *msg = journal_strerror(unknown[i]);
        cr_assert_not_null(msg, "code %d", unknown[i]);
        cr_assert_not_null(strcasestr(msg, "unknown error"), "code %d: \"%s\"", unknown[i], msg);
        cr_assert_null(strstr(msg, "JOURNAL_E"), "code %d: \"%s\"", unknown[i], msg);
    }
}

Test(store, errmsg_is_never_null_and_empty_on_lmdb)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    cr_assert_not_null(journal_store_errmsg(NULL));
    cr_assert_eq(journal_append(j, 1, "x", 1), JOURNAL_EBEYOND);
    cr_assert_not_null(journal_store_errmsg(s));
    /* LMDB has nothing to say beyond the codes. */
    if (tu_is_lmdb())
        cr_assert_str_eq(journal_store_errmsg(s), "");
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, version_matches_the_header)
{
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", JOURNAL_VERSION_MAJOR, JOURNAL_VERSION_MINOR, JOURNAL_VERSION_PATCH);
    cr_assert_str_eq(want, JOURNAL_VERSION_STRING);
    cr_assert_str_eq(journal_version(), JOURNAL_VERSION_STRING);
}

/* ------------------------------------------------- stat and counters */

Test(store, stat_counts_journals_and_records)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *a = tu_open_journal(s, "a"), *b = tu_open_journal(s, "b");
    journal_stat st;

    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_eq(st.format_version, JOURNAL_FORMAT_VERSION);
    cr_assert_eq(st.journals, 2);
    cr_assert_eq(st.records, 0);

    for (journal_pos i = 0; i < 4; i++)
        tu_append_str(a, i, "aaaa");
    tu_append_str(b, 0, "b");
    journal_close(tu_open_journal(s, "c"));
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_eq(st.journals, 3);
    cr_assert_eq(st.records, 5);

    cr_assert_eq(journal_truncate(a, 3), 0);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_eq(st.journals, 3, "truncating records removes no journal");
    cr_assert_eq(st.records, 2);
    journal_close(a);
    journal_close(b);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, stat_gives_sane_sizes_and_reader_slots)
{
    journal_options o = {.max_readers = 200};
    journal_store *s = NULL;
    journal *j;
    journal_snapshot *snap;
    journal_stat st;
    char rec[1000];
    tu_require_lmdb();
    cr_assert_eq(journal_store_open(tu_path("store"), &o, &s), 0);
    j = tu_open_journal(s, "j");
    memset(rec, 'r', sizeof rec);
    for (journal_pos i = 0; i < 100; i++)
        cr_assert_eq(journal_append(j, i, rec, sizeof rec), 0);
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_geq(st.page_size, 512);
    cr_assert_eq(st.page_size & (st.page_size - 1), 0, "page size %u", st.page_size);
    cr_assert_geq(st.used_size, 100 * sizeof rec, "used %llu", (unsigned long long)st.used_size);
    cr_assert_leq(st.used_size, st.file_size);
    cr_assert_leq(st.file_size, st.map_size);
    cr_assert_eq(st.used_size % st.page_size, 0);
    cr_assert_geq(st.readers_used, 1);
    cr_assert_leq(st.readers_used, st.max_readers);
    cr_assert_geq(st.max_readers, 200);
    cr_assert_lt(st.max_readers, 4096, "opts.max_readers was ignored");
    journal_snapshot_end(snap);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    s = tu_open_store(tu_path("default"), 0);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_geq(st.max_readers, 4096);
    cr_assert_eq(journal_store_close(s), 0);
}

static int count_range(void *arg, journal_pos pos, const void *rec, size_t len)
{
    (void)pos;
    (void)rec;
    (void)len;
    ++*(size_t *)arg;
    return 0;
}

static void assert_counters(journal_store *s, const journal_counters *want)
{
    journal_counters c;
    cr_assert_eq(journal_store_counters(s, &c), 0);
    cr_assert_eq(c.appends, want->appends, "appends %llu", (unsigned long long)c.appends);
    cr_assert_eq(c.bytes_appended, want->bytes_appended, "bytes %llu", (unsigned long long)c.bytes_appended);
    cr_assert_eq(c.conflicts, want->conflicts, "conflicts %llu", (unsigned long long)c.conflicts);
    cr_assert_eq(c.gets, want->gets, "gets %llu", (unsigned long long)c.gets);
    cr_assert_eq(c.range_records, want->range_records, "range records %llu", (unsigned long long)c.range_records);
    cr_assert_eq(c.truncated, want->truncated, "truncated %llu", (unsigned long long)c.truncated);
}

Test(store, counters_count_exactly_what_this_handle_did)
{
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, 0);
    journal *j = tu_open_journal(s, "j");
    journal_record recs[2] = {{"dddd", 4}, {"eeeee", 5}};
    journal_counters want = {0};
    journal_snapshot *snap;
    const void *cp;
    void *p;
    size_t len, delivered = 0;

    assert_counters(s, &want);
    tu_append_str(j, 0, "a");
    tu_append_str(j, 1, "bb");
    tu_append_str(j, 2, "ccc");
    cr_assert_eq(journal_append_batch(j, 3, recs, 2), 0);
    want.appends = 5;
    want.bytes_appended = 15;
    assert_counters(s, &want);

    cr_assert_eq(journal_append(j, 0, "x", 1), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_append(j, 4, "x", 1), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_append(j, 9, "x", 1), JOURNAL_EBEYOND);
    want.conflicts = 2;
    assert_counters(s, &want);

    cr_assert_eq(journal_get(j, 1, &p, &len), 0);
    free(p);
    cr_assert_eq(journal_get(j, 4, &p, &len), 0);
    free(p);
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_snapshot_get(snap, 0, &cp, &len), 0);
    want.gets = 3;
    assert_counters(s, &want);

    cr_assert_eq(journal_range(j, 1, count_range, &delivered), 0);
    cr_assert_eq(journal_snapshot_range(snap, 3, count_range, &delivered), 0);
    cr_assert_eq(delivered, 6);
    want.range_records = 6;
    assert_counters(s, &want);
    journal_snapshot_end(snap);

    cr_assert_eq(journal_truncate(j, 2), 0);
    cr_assert_eq(journal_truncate(j, 2), 0);
    cr_assert_eq(journal_truncate(j, 1), 0);
    want.truncated = 2;
    assert_counters(s, &want);
    cr_assert_eq(journal_truncate(j, 5), 0);
    want.truncated = 5;
    assert_counters(s, &want);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    /* Counters start from zero with each open. */
    s = tu_open_store(path, 0);
    want = (journal_counters){0};
    assert_counters(s, &want);
    cr_assert_eq(journal_store_close(s), 0);
}

/* Counts its calls in *arg, and returns arg[1] at the arg[2]-th. */
static int stop_at(void *arg, journal_pos pos, const void *rec, size_t len)
{
    long *a = arg;
    (void)pos;
    (void)rec;
    (void)len;
    return ++a[0] == a[2] ? (int)a[1] : 0;
}

/* The front end counts what the backend reports: records delivered before
 * a callback's stop or error, nothing for a failed call, and every
 * transaction of a truncation longer than one. */
Test(store, counters_count_ranges_cut_short_and_truncations_in_many_steps)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    enum { N = 20000 };
    journal_record *recs = calloc(N, sizeof *recs);
    journal_counters want = {0};
    journal_snapshot *snap;
    long stop[3] = {0, 1, 3}, fail[3] = {0, -EIO, 2};

    cr_assert_not_null(recs);
    for (size_t i = 0; i < N; i++)
        recs[i] = (journal_record){"r", 1};
    cr_assert_eq(journal_append_batch(j, 0, recs, N), 0);
    free(recs);
    want.appends = N;
    want.bytes_appended = N;

    cr_assert_eq(journal_range(j, 2, stop_at, stop), 0);
    cr_assert_eq(stop[0], 3);
    cr_assert_eq(journal_range(j, 2, stop_at, fail), -EIO);
    cr_assert_eq(fail[0], 2);
    cr_assert_eq(journal_range(j, N, stop_at, stop), JOURNAL_ENOTFOUND);
    want.range_records = 5;
    assert_counters(s, &want);

    stop[0] = 0;
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_snapshot_range(snap, N - 10, stop_at, stop), 0);
    journal_snapshot_end(snap);
    want.range_records = 8;
    assert_counters(s, &want);

    cr_assert_eq(journal_truncate(j, N + 1), JOURNAL_EBEYOND);
    assert_counters(s, &want);
    cr_assert_eq(journal_truncate(j, N - 1), 0);
    want.truncated = N - 1;
    assert_counters(s, &want);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ------------------------------------------------------- sync and check */

Test(store, nosync_store_works_and_sync_returns_0)
{
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, JOURNAL_NOSYNC);
    journal *j = tu_open_journal(s, "j");
    for (journal_pos i = 0; i < 10; i++)
        tu_append_str(j, i, "nosync");
    cr_assert_eq(journal_truncate(j, 3), 0);
    cr_assert_eq(journal_store_sync(s), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    s = tu_open_store(path, 0);
    j = tu_open_journal(s, "j");
    tu_assert_bounds(j, 3, 10);
    tu_assert_str(j, 9, "nosync");
    cr_assert_eq(journal_store_sync(s), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

static void report_problem(void *arg, const char *name, const char *problem)
{
    (void)arg;
    cr_assert_fail("check reported a problem in %s: %s", name ? name : "(store)", problem);
}

Test(store, check_finds_nothing_wrong_with_a_healthy_store)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *a = tu_open_journal(s, "a"), *b = tu_open_journal(s, "b");
    journal_close(tu_open_journal(s, "empty"));
    for (journal_pos i = 0; i < 20; i++)
        tu_append_str(a, i, "a record");
    tu_append_str(b, 0, "");
    cr_assert_eq(journal_truncate(a, 7), 0);
    cr_assert_eq(journal_truncate(b, 1), 0);
    cr_assert_eq(journal_store_check(s, report_problem, NULL), 0);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    journal_close(a);
    journal_close(b);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ----------------------------------------------------------------- copy */

/* Asserts that stores a and b hold the same journals, bounds and records. */
static void assert_same_stores(journal_store *a, journal_store *b)
{
    struct listing la = {0}, lb = {0};
    cr_assert_eq(journal_store_list(a, collect, &la), 0);
    cr_assert_eq(journal_store_list(b, collect, &lb), 0);
    cr_assert_eq(la.n, lb.n);
    for (size_t i = 0; i < la.n; i++) {
        journal *ja, *jb;
        cr_assert_str_eq(la.v[i].name, lb.v[i].name);
        cr_assert_eq(la.v[i].begin, lb.v[i].begin, "%s", la.v[i].name);
        cr_assert_eq(la.v[i].end, lb.v[i].end, "%s", la.v[i].name);
        ja = tu_open_journal(a, la.v[i].name);
        jb = tu_open_journal(b, lb.v[i].name);
        for (journal_pos p = la.v[i].begin; p < la.v[i].end; p++) {
            void *ra, *rb;
            size_t na, nb;
            cr_assert_eq(journal_get(ja, p, &ra, &na), 0);
            cr_assert_eq(journal_get(jb, p, &rb, &nb), 0);
            cr_assert_eq(na, nb);
            cr_assert_arr_eq(ra, rb, na);
            free(ra);
            free(rb);
        }
        journal_close(ja);
        journal_close(jb);
    }
    listing_free(&la);
    listing_free(&lb);
}

/* A store with a full, a partly truncated, a wholly truncated and an
 * empty journal, records of varied lengths. */
static journal_store *filled_store(void)
{
    static const struct {
        const char *name;
        journal_pos n, truncate;
    } fill[] = {{"one", 90, 0}, {"two", 60, 10}, {"three", 30, 30}, {"empty", 0, 0}};
    journal_store *s = tu_open_store(tu_path("store"), JOURNAL_NOSYNC);
    char rec[300];
    for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++) {
        journal *j = tu_open_journal(s, fill[i].name);
        for (journal_pos k = 0; k < fill[i].n; k++) {
            size_t len = (size_t)(k * 7 % sizeof rec);
            memset(rec, (int)('a' + k % 26), len);
            cr_assert_eq(journal_append(j, k, rec, len), 0);
        }
        cr_assert_eq(journal_truncate(j, fill[i].truncate), 0);
        journal_close(j);
    }
    return s;
}

Test(store, copy_opens_with_the_same_journals_bounds_and_records)
{
    journal_store *s, *c;
    journal *j;
    tu_require_lmdb(); /* the copy's destination is a directory */
    s = filled_store();
    j = tu_open_journal(s, "one");
    /* An open journal does not stop a copy. */
    cr_assert_eq(journal_store_copy(s, tu_path("copy"), 0), 0);
    journal_close(j);
    c = tu_open_store(tu_path("copy"), 0);
    assert_same_stores(s, c);
    cr_assert_eq(journal_store_check(c, report_problem, NULL), 0);
    cr_assert_eq(journal_store_close(c), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, compact_copy_opens_with_the_same_journals_and_is_no_larger)
{
    journal_store *s, *c;
    journal_stat full, compact;
    tu_require_lmdb();
    s = filled_store();
    cr_assert_eq(journal_store_copy(s, tu_path("copy"), 0), 0);
    cr_assert_eq(journal_store_copy(s, tu_path("compact"), JOURNAL_COPY_COMPACT), 0);
    c = tu_open_store(tu_path("compact"), 0);
    assert_same_stores(s, c);
    cr_assert_eq(journal_store_check(c, report_problem, NULL), 0);
    cr_assert_eq(journal_store_stat(c, &compact), 0);
    cr_assert_eq(journal_store_close(c), 0);
    c = tu_open_store(tu_path("copy"), 0);
    cr_assert_eq(journal_store_stat(c, &full), 0);
    cr_assert_leq(compact.used_size, full.used_size);
    cr_assert_eq(journal_store_close(c), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, copy_into_an_empty_directory_works)
{
    journal_store *s, *c;
    tu_require_lmdb();
    s = filled_store();
    cr_assert_eq(mkdir(tu_path("empty"), 0755), 0);
    cr_assert_eq(journal_store_copy(s, tu_path("empty"), 0), 0);
    c = tu_open_store(tu_path("empty"), 0);
    assert_same_stores(s, c);
    cr_assert_eq(journal_store_close(c), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, copy_onto_an_existing_store_gives_eexist_and_leaves_it_alone)
{
    journal_store *s, *other;
    journal *j;
    tu_require_lmdb();
    s = filled_store();
    other = tu_open_store(tu_path("other"), 0);
    j = tu_open_journal(other, "mine");
    tu_append_str(j, 0, "kept");
    journal_close(j);
    cr_assert_eq(journal_store_close(other), 0);

    cr_assert_eq(journal_store_copy(s, tu_path("other"), 0), -EEXIST);
    cr_assert_eq(journal_store_copy(s, tu_path("other"), JOURNAL_COPY_COMPACT), -EEXIST);

    other = tu_open_store(tu_path("other"), 0);
    j = tu_open_journal(other, "mine");
    tu_assert_bounds(j, 0, 1);
    tu_assert_str(j, 0, "kept");
    journal_close(j);
    {
        struct listing l = {0};
        cr_assert_eq(journal_store_list(other, collect, &l), 0);
        cr_assert_eq(l.n, 1, "the refused copy wrote into the existing store");
        listing_free(&l);
    }
    cr_assert_eq(journal_store_close(other), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ----------------------------------------------- size limits (LMDB) */

Test(store, max_size_gives_efull_keeps_what_is_stored_and_recovers_after_truncating, .timeout = 60)
{
    journal_options o = {.max_size = 4u << 20, .flags = JOURNAL_NOSYNC};
    journal_store *s = NULL;
    journal *j;
    char rec[4096];
    journal_pos n = 0;
    int rc = 0;
    tu_require_lmdb();
    cr_assert_eq(journal_store_open(tu_path("store"), &o, &s), 0);
    j = tu_open_journal(s, "j");
    /* 4 MiB hold at most 1024 such records; stop well after that. */
    while (n < 4096) {
        memset(rec, (int)(n % 251), sizeof rec);
        rc = journal_append(j, n, rec, sizeof rec);
        if (rc != 0)
            break;
        n++;
    }
    cr_assert_eq(rc, JOURNAL_EFULL, "append %llu: %s", (unsigned long long)n, journal_strerror(rc));
    cr_assert_gt(n, 100, "full after only %llu records", (unsigned long long)n);
    /* The refused append wrote nothing, and the store stays full. */
    tu_assert_bounds(j, 0, n);
    cr_assert_eq(journal_append(j, n, rec, sizeof rec), JOURNAL_EFULL);
    tu_assert_bounds(j, 0, n);

    /* Everything acknowledged is intact. */
    for (journal_pos i = 0; i < n; i++) {
        void *p;
        size_t len;
        cr_assert_eq(journal_get(j, i, &p, &len), 0);
        cr_assert_eq(len, sizeof rec);
        memset(rec, (int)(i % 251), sizeof rec);
        cr_assert_arr_eq(p, rec, sizeof rec, "record %llu changed", (unsigned long long)i);
        free(p);
    }
    cr_assert_eq(journal_store_check(s, report_problem, NULL), 0);

    cr_assert_eq(journal_truncate(j, n / 2), 0);
    for (journal_pos k = n; k < n + 10; k++) {
        rc = journal_append(j, k, rec, sizeof rec);
        cr_assert_eq(rc, 0, "append after truncating: %s", journal_strerror(rc));
    }
    tu_assert_bounds(j, n / 2, n + 10);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(store, small_map_grows_through_several_enlargements, .timeout = 60)
{
    journal_options o = {.map_size = 256u << 10, .flags = JOURNAL_NOSYNC};
    journal_store *s = NULL;
    journal *j;
    journal_stat st;
    static char rec[64 << 10];
    const journal_pos n = 480; /* 30 MiB */
    tu_require_lmdb();
    cr_assert_eq(journal_store_open(tu_path("store"), &o, &s), 0);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_lt(st.map_size, 1u << 20, "map_size %llu ignored", (unsigned long long)st.map_size);
    j = tu_open_journal(s, "j");
    for (journal_pos i = 0; i < n; i++) {
        int rc;
        memset(rec, (int)(i % 253), sizeof rec);
        rc = journal_append(j, i, rec, sizeof rec);
        cr_assert_eq(rc, 0, "append %llu: %s", (unsigned long long)i, journal_strerror(rc));
    }
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_geq(st.map_size, n * sizeof rec);
    cr_assert_geq(st.file_size, n * sizeof rec);
    for (journal_pos i = 0; i < n; i++) {
        void *p;
        size_t len;
        cr_assert_eq(journal_get(j, i, &p, &len), 0);
        cr_assert_eq(len, sizeof rec);
        memset(rec, (int)(i % 253), sizeof rec);
        cr_assert_arr_eq(p, rec, sizeof rec, "record %llu changed", (unsigned long long)i);
        free(p);
    }
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    /* The grown store opens again with the small map_size asked for. */
    cr_assert_eq(journal_store_open(tu_path("store"), &o, &s), 0);
    j = tu_open_journal(s, "j");
    tu_assert_bounds(j, 0, n);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}
