/*
 * test_journal.c - one journal's contract: names, bounds, append, batch,
 * truncate, get, range and wait.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

TestSuite(journal, .init = tu_setup, .fini = tu_teardown);

static void assert_not_found(journal *j, journal_pos pos)
{
    void *rec = (void *)&rec;
    size_t len = 4321;
    int rc = journal_get(j, pos, &rec, &len);
    cr_assert_eq(rc, JOURNAL_ENOTFOUND, "get %llu: %s", (unsigned long long)pos, journal_strerror(rc));
    /* The out-pointers are set only on success. */
    cr_assert_eq(rec, (void *)&rec);
    cr_assert_eq(len, 4321);
}

static void assert_r(journal *j, journal_pos pos)
{
    char rec[32];
    snprintf(rec, sizeof rec, "r%llu", (unsigned long long)pos);
    tu_assert_str(j, pos, rec);
}

struct listed {
    char **names;
    journal_pos *ends;
    size_t n;
};

static int collect(void *arg, const char *name, journal_pos begin, journal_pos end)
{
    struct listed *l = arg;
    char **names = realloc(l->names, (l->n + 1) * sizeof *names);
    journal_pos *ends = realloc(l->ends, (l->n + 1) * sizeof *ends);
    cr_assert(names && ends);
    l->names = names;
    l->ends = ends;
    names[l->n] = strdup(name);
    cr_assert_not_null(names[l->n]);
    cr_assert_eq(begin, 0);
    ends[l->n] = end;
    l->n++;
    return 0;
}

static void listed_free(struct listed *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    free(l->ends);
}

/* ----------------------------------------------------------------- names */

Test(journal, of_1_to_255_bytes_are_accepted)
{
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, 0);
    char name[256];
    size_t lens[] = {1, 2, 100, 254, 255};
    for (size_t i = 0; i < 5; i++) {
        journal *j;
        memset(name, 'a' + (int)i, lens[i]);
        name[lens[i]] = '\0';
        j = tu_open_journal(s, name);
        cr_assert_str_eq(journal_name(j), name);
        tu_append_str(j, 0, name);
        journal_close(j);
    }
    cr_assert_eq(journal_store_close(s), 0);

    s = tu_open_store(path, 0);
    for (size_t i = 0; i < 5; i++) {
        journal *j;
        memset(name, 'a' + (int)i, lens[i]);
        name[lens[i]] = '\0';
        j = tu_open_journal(s, name);
        tu_assert_bounds(j, 0, 1);
        tu_assert_str(j, 0, name);
        journal_close(j);
    }
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, empty_or_of_256_bytes_give_einval_and_create_nothing)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    struct listed l = {0};
    journal *j = NULL;
    char name[300];
    memset(name, 'n', sizeof name);
    name[256] = '\0';
    cr_assert_eq(journal_open(s, "", &j), -EINVAL);
    cr_assert_eq(journal_open(s, name, &j), -EINVAL);
    name[299] = '\0';
    cr_assert_eq(journal_open(s, name, &j), -EINVAL);
    cr_assert_null(j);
    cr_assert_eq(journal_store_list(s, collect, &l), 0);
    cr_assert_eq(l.n, 0);
    listed_free(&l);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, may_hold_every_byte_value_and_list_back_byte_exact)
{
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, JOURNAL_NOSYNC);
    char *names[256];
    struct listed l = {0};
    /* 255 one-byte names, and one name holding every byte 1..255 in turn. */
    for (int c = 1; c <= 255; c++) {
        names[c - 1] = malloc(2);
        cr_assert_not_null(names[c - 1]);
        names[c - 1][0] = (char)c;
        names[c - 1][1] = '\0';
    }
    names[255] = malloc(256);
    cr_assert_not_null(names[255]);
    for (int c = 1; c <= 255; c++)
        names[255][c - 1] = (char)c;
    names[255][255] = '\0';

    for (size_t i = 0; i < 256; i++) {
        journal *j = tu_open_journal(s, names[i]);
        cr_assert_eq(strcmp(journal_name(j), names[i]), 0, "journal_name of name %zu", i);
        tu_append_str(j, 0, names[i]);
        journal_close(j);
    }
    cr_assert_eq(journal_store_close(s), 0);

    s = tu_open_store(path, 0);
    qsort(names, 256, sizeof names[0], tu_cmp_strp);
    cr_assert_eq(journal_store_list(s, collect, &l), 0);
    cr_assert_eq(l.n, 256);
    for (size_t i = 0; i < 256; i++) {
        journal *j;
        cr_assert_eq(strlen(l.names[i]), strlen(names[i]), "entry %zu", i);
        cr_assert_arr_eq(l.names[i], names[i], strlen(names[i]), "entry %zu", i);
        cr_assert_eq(l.ends[i], 1, "entry %zu", i);
        /* Each name found its own journal again. */
        j = tu_open_journal(s, names[i]);
        tu_assert_str(j, 0, names[i]);
        journal_close(j);
    }
    listed_free(&l);
    for (size_t i = 0; i < 256; i++)
        free(names[i]);
    cr_assert_eq(journal_store_close(s), 0);
}

/* The contract promises 1,000,000 journals in a store; the default suite
 * shows 10,000 to stay fast. */
Test(journal, ten_thousand_journals_list_in_byte_order_and_open_again, .timeout = 120)
{
    unsigned n = tu_scaled(10000);
    journal_store *s = tu_open_store(tu_store(), JOURNAL_NOSYNC);
    journal_stat st;
    struct listed l = {0};
    unsigned char *seen = calloc(n, 1);
    char name[32];
    journal *j;
    cr_assert_not_null(seen);
    /* Decimal names without padding: byte order is not numeric order. */
    for (unsigned i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%u", i);
        j = tu_open_journal(s, name);
        if (i % 97 == 0)
            tu_append_str(j, 0, name);
        journal_close(j);
    }
    cr_assert_eq(journal_store_list(s, collect, &l), 0);
    cr_assert_eq(l.n, n);
    for (size_t i = 0; i < l.n; i++) {
        char *endp;
        unsigned long v = strtoul(l.names[i], &endp, 10);
        if (i > 0)
            cr_assert_lt(strcmp(l.names[i - 1], l.names[i]), 0, "\"%s\" listed before \"%s\"", l.names[i - 1],
                         l.names[i]);
        cr_assert_eq(*endp, '\0');
        cr_assert_lt(v, n);
        cr_assert_not(seen[v], "\"%s\" listed twice", l.names[i]);
        seen[v] = 1;
        cr_assert_eq(l.ends[i], v % 97 == 0 ? 1 : 0, "\"%s\"", l.names[i]);
    }
    listed_free(&l);
    free(seen);

    snprintf(name, sizeof name, "%u", 97 * (n / 97 / 2));
    j = tu_open_journal(s, name);
    tu_assert_bounds(j, 0, 1);
    tu_assert_str(j, 0, name);
    journal_close(j);
    snprintf(name, sizeof name, "%u", n - 2);
    j = tu_open_journal(s, name);
    tu_assert_bounds(j, 0, 0);
    journal_close(j);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_eq(st.journals, n, "opening existing journals created new ones");
    cr_assert_eq(journal_store_close(s), 0);
}

/* ---------------------------------------------------------------- bounds */

Test(journal, of_a_new_journal_are_0_0)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "new");
    tu_assert_bounds(j, 0, 0);
    cr_assert_eq(journal_is_fresh(j), 1);
    cr_assert_eq(journal_is_empty(j), 1);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, follow_appends)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    for (journal_pos i = 0; i < 5; i++) {
        tu_append_str(j, i, "x");
        tu_assert_bounds(j, 0, i + 1);
    }
    cr_assert_eq(journal_is_fresh(j), 0);
    cr_assert_eq(journal_is_empty(j), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, after_truncating_everything_begin_and_end_are_the_old_end_also_after_reopen)
{
    const char *path = tu_store();
    journal_store *s = tu_open_store(path, 0);
    journal *j = tu_journal_with(s, "j", 7);
    cr_assert_eq(journal_truncate(j, 7), 0);
    tu_assert_bounds(j, 7, 7);
    cr_assert_eq(journal_is_fresh(j), 0);
    cr_assert_eq(journal_is_empty(j), 1);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);

    s = tu_open_store(path, 0);
    j = tu_open_journal(s, "j");
    tu_assert_bounds(j, 7, 7);
    cr_assert_eq(journal_is_fresh(j), 0);
    /* Positions never come back: the next record goes at 7. */
    cr_assert_eq(journal_append(j, 0, "x", 1), JOURNAL_ECONFLICT);
    tu_append_str(j, 7, "r7");
    tu_assert_bounds(j, 7, 8);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, out_pointers_may_be_null)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 3);
    journal_pos b = 99, e = 99;
    cr_assert_eq(journal_truncate(j, 1), 0);
    cr_assert_eq(journal_bounds(j, NULL, NULL), 0);
    cr_assert_eq(journal_bounds(j, &b, NULL), 0);
    cr_assert_eq(b, 1);
    cr_assert_eq(journal_bounds(j, NULL, &e), 0);
    cr_assert_eq(e, 3);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ---------------------------------------------------------------- append */

Test(journal, succeeds_at_the_end_and_conflicts_below_it_writing_nothing)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 3);
    for (journal_pos p = 0; p < 3; p++) {
        cr_assert_eq(journal_append(j, p, "new", 3), JOURNAL_ECONFLICT, "append at %llu", (unsigned long long)p);
        tu_assert_bounds(j, 0, 3);
        assert_r(j, p);
    }
    tu_append_str(j, 3, "r3");
    tu_assert_bounds(j, 0, 4);
    assert_r(j, 3);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, conflicts_at_truncated_positions)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 5);
    cr_assert_eq(journal_truncate(j, 3), 0);
    for (journal_pos p = 0; p < 5; p++)
        cr_assert_eq(journal_append(j, p, "new", 3), JOURNAL_ECONFLICT, "append at %llu", (unsigned long long)p);
    tu_assert_bounds(j, 3, 5);
    assert_not_found(j, 0);
    assert_not_found(j, 2);
    assert_r(j, 3);
    assert_r(j, 4);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, above_the_end_gives_ebeyond_and_writes_nothing)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    cr_assert_eq(journal_append(j, 1, "x", 1), JOURNAL_EBEYOND);
    tu_assert_bounds(j, 0, 0);
    cr_assert_eq(journal_is_fresh(j), 1);
    tu_append_str(j, 0, "r0");
    tu_append_str(j, 1, "r1");
    cr_assert_eq(journal_append(j, 3, "x", 1), JOURNAL_EBEYOND);
    cr_assert_eq(journal_append(j, 1000000, "x", 1), JOURNAL_EBEYOND);
    cr_assert_eq(journal_append(j, JOURNAL_POS_MAX, "x", 1), JOURNAL_EBEYOND);
    tu_assert_bounds(j, 0, 2);
    assert_not_found(j, 2);
    assert_not_found(j, 3);
    assert_r(j, 1);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, accepts_zero_length_records_with_or_without_a_pointer)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    cr_assert_eq(journal_append(j, 0, "ignored", 0), 0);
    cr_assert_eq(journal_append(j, 1, NULL, 0), 0);
    tu_append_str(j, 2, "r2");
    tu_assert_bounds(j, 0, 3);
    tu_assert_record(j, 0, "", 0);
    tu_assert_record(j, 1, "", 0);
    assert_r(j, 2);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, null_record_with_a_length_gives_einval_and_writes_nothing)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 1);
    cr_assert_eq(journal_append(j, 1, NULL, 1), -EINVAL);
    cr_assert_eq(journal_append(j, 1, NULL, 100), -EINVAL);
    tu_assert_bounds(j, 0, 1);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, of_4_gib_or_more_gives_emsgsize_and_writes_nothing)
{
    journal_store *s;
    journal *j;
    journal_record recs[2] = {{"ok", 2}, {"", 0}};
    char small[16] = "not 4 GiB";
    if (SIZE_MAX <= UINT32_MAX)
        cr_skip_test("size_t cannot express a length of 4 GiB here");
    s = tu_open_store(tu_store(), 0);
    j = tu_open_journal(s, "j");
    /* The library must refuse the length before it reads the record. */
    cr_assert_eq(journal_append(j, 0, small, (size_t)UINT32_MAX + 1), -EMSGSIZE);
    recs[1].data = small;
    recs[1].len = (size_t)UINT32_MAX + 1;
    cr_assert_eq(journal_append_batch(j, 0, recs, 2), -EMSGSIZE);
    tu_assert_bounds(j, 0, 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* A store too small for it shows that the size itself is accepted without
 * writing 4 GiB: the record is untouched zero pages of an anonymous map. */
Test(journal, of_4_gib_minus_1_bytes_is_not_refused_for_its_size, .timeout = 60)
{
    journal_options o = {.max_size = 1u << 20};
    journal_store *s = NULL;
    journal *j;
    void *big;
    int rc;
    tu_require_lmdb(); /* max_size */
    if (SIZE_MAX <= UINT32_MAX)
        cr_skip_test("a 4 GiB map does not fit this address space");
    big = mmap(NULL, UINT32_MAX, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    cr_assert_neq(big, MAP_FAILED);
    cr_assert_eq(journal_store_open(tu_store(), &o, &s), 0);
    j = tu_open_journal(s, "j");
    rc = journal_append(j, 0, big, UINT32_MAX);
    cr_assert_eq(rc, JOURNAL_EFULL, "append of 4 GiB - 1 bytes: %s", journal_strerror(rc));
    tu_assert_bounds(j, 0, 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    munmap(big, UINT32_MAX);
}

Test(journal, round_trips_a_64_mib_record_byte_exact, .timeout = 60)
{
    const size_t len = 64u << 20;
    unsigned char *big = malloc(len);
    uint64_t state = 0x9e3779b97f4a7c15u;
    journal_store *s;
    journal *j;
    journal_snapshot *snap;
    const void *cp;
    size_t cl;
    /* Other backends may take minutes for this; the LMDB one shows the
     * contract's size. */
    tu_require_lmdb();
    cr_assert_not_null(big);
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = tu_rand(&state);
        memcpy(big + i, &v, 8);
    }
    s = tu_open_store(tu_store(), 0);
    j = tu_open_journal(s, "big");
    tu_append_str(j, 0, "before");
    cr_assert_eq(journal_append(j, 1, big, len), 0);
    tu_append_str(j, 2, "after");
    tu_assert_record(j, 1, big, len);
    cr_assert_eq(journal_snapshot_begin(j, &snap), 0);
    cr_assert_eq(journal_snapshot_get(snap, 1, &cp, &cl), 0);
    cr_assert_eq(cl, len);
    cr_assert_eq(memcmp(cp, big, len), 0, "the snapshot's record differs");
    journal_snapshot_end(snap);
    tu_assert_str(j, 0, "before");
    tu_assert_str(j, 2, "after");
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
    free(big);
}

Test(journal, through_one_handle_is_visible_at_once_through_another)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *a = tu_open_journal(s, "j"), *b = tu_open_journal(s, "j");
    journal_snapshot *snap;
    journal_pos e;
    tu_append_str(a, 0, "from a");
    tu_assert_bounds(b, 0, 1);
    tu_assert_str(b, 0, "from a");
    tu_append_str(b, 1, "from b");
    tu_assert_bounds(a, 0, 2);
    tu_assert_str(a, 1, "from b");
    cr_assert_eq(journal_append(a, 1, "late", 4), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_snapshot_begin(b, &snap), 0);
    cr_assert_eq(journal_snapshot_bounds(snap, NULL, &e), 0);
    cr_assert_eq(e, 2);
    journal_snapshot_end(snap);
    cr_assert_eq(journal_truncate(b, 1), 0);
    tu_assert_bounds(a, 1, 2);
    assert_not_found(a, 0);
    journal_close(a);
    journal_close(b);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, journals_of_one_store_are_independent)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *a = tu_journal_with(s, "a", 3), *b = tu_open_journal(s, "b");
    tu_assert_bounds(b, 0, 0);
    cr_assert_eq(journal_append(b, 3, "x", 1), JOURNAL_EBEYOND);
    tu_append_str(b, 0, "b0");
    cr_assert_eq(journal_truncate(a, 2), 0);
    tu_assert_bounds(b, 0, 1);
    tu_assert_bounds(a, 2, 3);
    tu_assert_str(b, 0, "b0");
    journal_close(a);
    journal_close(b);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ----------------------------------------------------------------- batch */

Test(journal, appends_n_records_at_the_end_in_order)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    journal_record first[3] = {{"r0", 2}, {"r1", 2}, {"r2", 2}};
    journal_record second[2] = {{"r3", 2}, {NULL, 0}};
    cr_assert_eq(journal_append_batch(j, 0, first, 3), 0);
    tu_assert_bounds(j, 0, 3);
    cr_assert_eq(journal_append_batch(j, 3, second, 2), 0);
    tu_assert_bounds(j, 0, 5);
    for (journal_pos p = 0; p < 4; p++)
        assert_r(j, p);
    tu_assert_record(j, 4, "", 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, of_a_thousand_records_is_one_call)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 2);
    journal_record recs[1000];
    char text[1000][16];
    for (size_t i = 0; i < 1000; i++) {
        snprintf(text[i], sizeof text[i], "r%zu", i + 2);
        recs[i].data = text[i];
        recs[i].len = strlen(text[i]);
    }
    cr_assert_eq(journal_append_batch(j, 2, recs, 1000), 0);
    tu_assert_bounds(j, 0, 1002);
    for (journal_pos p = 0; p < 1002; p++)
        assert_r(j, p);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, conflict_or_beyond_writes_nothing)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 5);
    journal_record recs[4] = {{"n0", 2}, {"n1", 2}, {"n2", 2}, {"n3", 2}};
    cr_assert_eq(journal_append_batch(j, 3, recs, 4), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_append_batch(j, 0, recs, 1), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_append_batch(j, 4, recs, 4), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_append_batch(j, 6, recs, 4), JOURNAL_EBEYOND);
    cr_assert_eq(journal_append_batch(j, JOURNAL_POS_MAX, recs, 4), JOURNAL_EBEYOND);
    tu_assert_bounds(j, 0, 5);
    for (journal_pos p = 0; p < 5; p++)
        assert_r(j, p);
    assert_not_found(j, 5);
    assert_not_found(j, 6);
    cr_assert_eq(journal_truncate(j, 5), 0);
    cr_assert_eq(journal_append_batch(j, 2, recs, 4), JOURNAL_ECONFLICT);
    tu_assert_bounds(j, 5, 5);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, with_a_null_record_of_some_length_gives_einval_and_writes_nothing)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 1);
    journal_record recs[3] = {{"n1", 2}, {NULL, 3}, {"n3", 2}};
    cr_assert_eq(journal_append_batch(j, 1, recs, 3), -EINVAL);
    tu_assert_bounds(j, 0, 1);
    assert_not_found(j, 1);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, of_zero_records_returns_0_at_the_end_only)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 3);
    journal_record rec = {"unused", 6};
    cr_assert_eq(journal_append_batch(j, 3, &rec, 0), 0);
    cr_assert_eq(journal_append_batch(j, 2, &rec, 0), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_append_batch(j, 0, &rec, 0), JOURNAL_ECONFLICT);
    cr_assert_eq(journal_append_batch(j, 4, &rec, 0), JOURNAL_EBEYOND);
    cr_assert_eq(journal_append_batch(j, JOURNAL_POS_MAX, &rec, 0), JOURNAL_EBEYOND);
    tu_assert_bounds(j, 0, 3);
    assert_not_found(j, 3);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* -------------------------------------------------------------- truncate */

Test(journal, at_or_below_begin_does_nothing_and_returns_0)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    cr_assert_eq(journal_truncate(j, 0), 0);
    tu_assert_bounds(j, 0, 0);
    journal_close(j);
    j = tu_journal_with(s, "k", 6);
    cr_assert_eq(journal_truncate(j, 0), 0);
    tu_assert_bounds(j, 0, 6);
    cr_assert_eq(journal_truncate(j, 3), 0);
    cr_assert_eq(journal_truncate(j, 3), 0);
    cr_assert_eq(journal_truncate(j, 1), 0);
    tu_assert_bounds(j, 3, 6);
    for (journal_pos p = 3; p < 6; p++)
        assert_r(j, p);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, above_the_end_gives_ebeyond_and_removes_nothing)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    cr_assert_eq(journal_truncate(j, 1), JOURNAL_EBEYOND);
    tu_assert_bounds(j, 0, 0);
    journal_close(j);
    j = tu_journal_with(s, "k", 4);
    cr_assert_eq(journal_truncate(j, 5), JOURNAL_EBEYOND);
    cr_assert_eq(journal_truncate(j, JOURNAL_POS_MAX), JOURNAL_EBEYOND);
    tu_assert_bounds(j, 0, 4);
    for (journal_pos p = 0; p < 4; p++)
        assert_r(j, p);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, removes_the_oldest_records_first)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 10);
    cr_assert_eq(journal_truncate(j, 4), 0);
    tu_assert_bounds(j, 4, 10);
    for (journal_pos p = 0; p < 4; p++)
        assert_not_found(j, p);
    for (journal_pos p = 4; p < 10; p++)
        assert_r(j, p);
    cr_assert_eq(journal_truncate(j, 9), 0);
    tu_assert_bounds(j, 9, 10);
    assert_not_found(j, 8);
    assert_r(j, 9);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* The contract promises one call removes 1,000,000 records. */
Test(journal, removes_a_million_records_in_one_call, .timeout = 120)
{
    const journal_pos n = tu_scaled(1000000), chunk = 10000, keep = 10;
    journal_store *s = tu_open_store(tu_store(), JOURNAL_NOSYNC);
    journal *j = tu_open_journal(s, "j");
    journal_stat st;
    journal_record *recs = calloc(chunk, sizeof *recs);
    uint64_t *vals = calloc(chunk, sizeof *vals);
    cr_assert(recs && vals);
    for (journal_pos base = 0; base < n; base += chunk) {
        int rc;
        for (journal_pos i = 0; i < chunk; i++) {
            vals[i] = base + i;
            recs[i].data = &vals[i];
            recs[i].len = sizeof vals[i];
        }
        rc = journal_append_batch(j, base, recs, chunk);
        cr_assert_eq(rc, 0, "batch at %llu: %s", (unsigned long long)base, journal_strerror(rc));
    }
    tu_assert_bounds(j, 0, n);
    cr_assert_eq(journal_truncate(j, n - keep), 0);
    tu_assert_bounds(j, n - keep, n);
    assert_not_found(j, 0);
    assert_not_found(j, n / 2);
    assert_not_found(j, n - keep - 1);
    for (journal_pos p = n - keep; p < n; p++)
        tu_assert_record(j, p, &p, sizeof p);
    cr_assert_eq(journal_store_stat(s, &st), 0);
    cr_assert_eq(st.records, keep);
    cr_assert_eq(journal_store_check(s, NULL, NULL), 0);
    free(recs);
    free(vals);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ------------------------------------------------------------------- get */

Test(journal, gives_a_copy_the_caller_owns)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 2);
    void *rec;
    size_t len;
    cr_assert_eq(journal_get(j, 1, &rec, &len), 0);
    cr_assert_eq(len, 2);
    memset(rec, 'X', len);
    free(rec);
    assert_r(j, 1);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, of_a_zero_length_record_gives_a_non_null_pointer)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    void *rec = NULL;
    size_t len = 99;
    cr_assert_eq(journal_append(j, 0, NULL, 0), 0);
    cr_assert_eq(journal_get(j, 0, &rec, &len), 0);
    cr_assert_not_null(rec);
    cr_assert_eq(len, 0);
    free(rec);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, outside_the_bounds_gives_enotfound)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    assert_not_found(j, 0);
    assert_not_found(j, JOURNAL_POS_MAX);
    journal_close(j);
    j = tu_journal_with(s, "k", 5);
    cr_assert_eq(journal_truncate(j, 2), 0);
    assert_not_found(j, 0);
    assert_not_found(j, 1);
    assert_r(j, 2);
    assert_r(j, 4);
    assert_not_found(j, 5);
    assert_not_found(j, 6);
    assert_not_found(j, JOURNAL_POS_MAX - 1);
    assert_not_found(j, JOURNAL_POS_MAX);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ----------------------------------------------------------------- range */

struct seen {
    journal *j;          /* when set, the callback writes to this journal */
    int truncate_all;    /* truncate every record at each call */
    size_t stop_after;   /* return `ret` after this many calls; 0: never */
    int ret;             /* JOURNAL_STOP or a negative code */
    journal_pos pos[64]; /* positions delivered, in order */
    char rec[64][32];    /* their bytes, NUL-terminated */
    size_t n;
};

static int record_seen(void *arg, journal_pos pos, const void *rec, size_t len)
{
    struct seen *w = arg;
    cr_assert_lt(w->n, 64, "too many records delivered");
    cr_assert_lt(len, sizeof w->rec[0]);
    w->pos[w->n] = pos;
    memcpy(w->rec[w->n], rec, len);
    w->rec[w->n][len] = '\0';
    w->n++;
    if (w->j && w->truncate_all) {
        journal_pos e;
        cr_assert_eq(journal_bounds(w->j, NULL, &e), 0);
        cr_assert_eq(journal_truncate(w->j, e), 0, "truncate inside the range");
    } else if (w->j) {
        journal_pos e;
        char text[32];
        cr_assert_eq(journal_bounds(w->j, NULL, &e), 0);
        snprintf(text, sizeof text, "r%llu", (unsigned long long)e);
        cr_assert_eq(journal_append(w->j, e, text, strlen(text)), 0, "append inside the range");
    }
    if (w->stop_after && w->n == w->stop_after)
        return w->ret;
    return 0;
}

static void assert_seen_r(const struct seen *w, journal_pos from, size_t n)
{
    cr_assert_eq(w->n, n, "%zu records delivered, expected %zu", w->n, n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "r%llu", (unsigned long long)(from + i));
        cr_assert_eq(w->pos[i], from + i, "call %zu got position %llu", i, (unsigned long long)w->pos[i]);
        cr_assert_str_eq(w->rec[i], want, "record at %llu", (unsigned long long)w->pos[i]);
    }
}

Test(journal, delivers_every_record_from_from_to_the_end_in_order)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 8);
    struct seen w = {0};
    cr_assert_eq(journal_truncate(j, 2), 0);
    cr_assert_eq(journal_range(j, 2, record_seen, &w), 0);
    assert_seen_r(&w, 2, 6);
    w = (struct seen){0};
    cr_assert_eq(journal_range(j, 5, record_seen, &w), 0);
    assert_seen_r(&w, 5, 3);
    w = (struct seen){0};
    cr_assert_eq(journal_range(j, 7, record_seen, &w), 0);
    assert_seen_r(&w, 7, 1);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, from_outside_the_bounds_gives_enotfound_and_never_calls)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct seen w = {0};
    journal_pos outside[] = {0, 1, 5, 6, JOURNAL_POS_MAX};
    cr_assert_eq(journal_range(j, 0, record_seen, &w), JOURNAL_ENOTFOUND);
    journal_close(j);
    j = tu_journal_with(s, "k", 5);
    cr_assert_eq(journal_truncate(j, 2), 0);
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
        cr_assert_eq(journal_range(j, outside[i], record_seen, &w), JOURNAL_ENOTFOUND, "from %llu",
                     (unsigned long long)outside[i]);
    cr_assert_eq(w.n, 0, "the callback was called");
    cr_assert_eq(journal_truncate(j, 5), 0);
    cr_assert_eq(journal_range(j, 5, record_seen, &w), JOURNAL_ENOTFOUND);
    cr_assert_eq(journal_range(j, 4, record_seen, &w), JOURNAL_ENOTFOUND);
    cr_assert_eq(w.n, 0, "the callback was called");
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, stops_on_journal_stop_and_returns_0)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 6);
    struct seen w = {.stop_after = 3, .ret = JOURNAL_STOP};
    cr_assert_eq(journal_range(j, 1, record_seen, &w), 0);
    assert_seen_r(&w, 1, 3);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, returns_a_negative_callback_code_unchanged)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 6);
    struct seen w = {.stop_after = 2, .ret = -7777};
    cr_assert_eq(journal_range(j, 0, record_seen, &w), -7777);
    assert_seen_r(&w, 0, 2);
    w = (struct seen){.stop_after = 1, .ret = JOURNAL_ENOTFOUND};
    cr_assert_eq(journal_range(j, 3, record_seen, &w), JOURNAL_ENOTFOUND);
    assert_seen_r(&w, 3, 1);
    w = (struct seen){.stop_after = 1, .ret = -EIO};
    cr_assert_eq(journal_range(j, 5, record_seen, &w), -EIO);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, does_not_deliver_records_its_callback_appends, .timeout = 30)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 5);
    struct seen w = {.j = j};
    cr_assert_eq(journal_range(j, 0, record_seen, &w), 0);
    assert_seen_r(&w, 0, 5);
    tu_assert_bounds(j, 0, 10);
    for (journal_pos p = 0; p < 10; p++)
        assert_r(j, p);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, still_delivers_records_its_callback_truncates, .timeout = 30)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 5), *other = tu_open_journal(s, "j");
    struct seen w = {.j = other, .truncate_all = 1};
    cr_assert_eq(journal_range(j, 1, record_seen, &w), 0);
    assert_seen_r(&w, 1, 4);
    tu_assert_bounds(j, 5, 5);
    journal_close(other);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

/* ------------------------------------------------------------------ wait */

Test(journal, returns_0_at_once_when_a_record_is_there, .timeout = 30)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_journal_with(s, "j", 3);
    cr_assert_eq(journal_wait(j, 2, -1), 0);
    cr_assert_eq(journal_wait(j, 0, 0), 0);
    cr_assert_eq(journal_wait(j, 2, 0), 0);
    cr_assert_eq(journal_truncate(j, 3), 0);
    /* Truncated records still count: end is past pos. */
    cr_assert_eq(journal_wait(j, 1, -1), 0);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

Test(journal, times_out_when_nothing_comes, .timeout = 30)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    cr_assert_eq(journal_wait(j, 0, 0), -ETIMEDOUT);
    cr_assert_eq(journal_wait(j, 0, 50), -ETIMEDOUT);
    tu_append_str(j, 0, "r0");
    tu_append_str(j, 1, "r1");
    cr_assert_eq(journal_wait(j, 2, 0), -ETIMEDOUT);
    cr_assert_eq(journal_wait(j, 5, 30), -ETIMEDOUT);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}

#define WAIT_ROUNDS 20

struct waiter {
    journal *j;
    int ready; /* write end: one byte before each wait */
    int rc[WAIT_ROUNDS];
};

static void *wait_rounds(void *arg)
{
    struct waiter *w = arg;
    for (int k = 0; k < WAIT_ROUNDS; k++) {
        char c = (char)k;
        if (write(w->ready, &c, 1) != 1) {
            w->rc[k] = -errno;
            break;
        }
        /* Without a timeout, a lost wake-up hangs the test until
         * Criterion's timeout fails it: returning 0 only when the time
         * runs out would hide it. */
        w->rc[k] = journal_wait(w->j, (journal_pos)k, -1);
    }
    return NULL;
}

Test(journal, wakes_when_another_thread_appends, .timeout = 30)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    struct waiter w = {.j = tu_open_journal(s, "j")};
    pthread_t t;
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    w.ready = fds[1];
    cr_assert_eq(pthread_create(&t, NULL, wait_rounds, &w), 0);
    for (int k = 0; k < WAIT_ROUNDS; k++) {
        char c;
        cr_assert_eq(read(fds[0], &c, 1), 1);
        cr_assert_eq(c, (char)k);
        tu_append_str(j, (journal_pos)k, "woken");
    }
    cr_assert_eq(pthread_join(t, NULL), 0);
    for (int k = 0; k < WAIT_ROUNDS; k++)
        cr_assert_eq(w.rc[k], 0, "wait %d: %s", k, journal_strerror(w.rc[k]));
    close(fds[0]);
    close(fds[1]);
    journal_close(w.j);
    journal_close(j);
    cr_assert_eq(journal_store_close(s), 0);
}
