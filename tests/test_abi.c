/*
 * test_abi.c - the structs that cross the ABI can grow (include/journal.h,
 * GROWING STRUCTS): a program built with an older, smaller struct, or with
 * a newer, larger one, works with this library. The older structs are
 * declared here as an older header would have them, with guard bytes after
 * them that the library must neither read nor write.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

TestSuite(abi, .init = tu_setup, .fini = tu_teardown);

#define GUARD 0xA5

static int all_bytes(const void *p, size_t n, unsigned char b)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != b)
            return 0;
    return 1;
}

/* journal_options as an older header could have had it: no mode, no
 * map_size. What follows it is garbage the library must not read: as a
 * mode it would be invalid (-EINVAL), as a map_size absurd. */
struct old_options {
    uint64_t max_size;
    unsigned max_readers;
    unsigned flags;
};

struct old_options_buf {
    struct old_options o;
    unsigned char guard[32];
};

Test(abi, an_older_smaller_options_struct_is_read_up_to_its_size_only)
{
    struct old_options_buf buf;
    const char *path = tu_store();
    journal_store *s = NULL;
    journal_stat st;
    int rc;

    memset(&buf, 0xff, sizeof buf);
    buf.o.max_size = 0;
    buf.o.max_readers = 0;
    /* The flags are read: read-only on a missing store is -ENOENT. */
    buf.o.flags = JOURNAL_RDONLY;
    rc = journal_store_open_sized(path, (const journal_options *)&buf, sizeof buf.o, &s);
    cr_assert_eq(rc, -ENOENT, "read-only open of a missing store: %s", journal_strerror(rc));
    cr_assert_null(s);

    buf.o.flags = 0;
    rc = journal_store_open_sized(path, (const journal_options *)&buf, sizeof buf.o, &s);
    cr_assert_eq(rc, 0, "open with the older struct: %s", journal_strerror(rc));
    cr_assert_eq(journal_store_stat(s, &st), 0);
    if (tu_is_lmdb())
        cr_assert_eq(st.map_size, (uint64_t)1 << 30, "map_size %llu is not the default: the guard was read",
                     (unsigned long long)st.map_size);
    cr_assert(all_bytes(buf.guard, sizeof buf.guard, 0xff), "the guard bytes changed");
    cr_assert_eq(journal_store_close(s), 0);
}

struct new_options {
    journal_options o;
    uint64_t future[2]; /* options of a newer header */
};

Test(abi, a_newer_larger_options_struct_works_while_its_new_options_are_zero)
{
    struct new_options n;
    const char *path = tu_store(), *other = tu_store();
    journal_store *s = NULL;
    int rc;

    memset(&n, 0, sizeof n);
    rc = journal_store_open_sized(path, &n.o, sizeof n, &s);
    cr_assert_eq(rc, 0, "open with a larger zeroed struct: %s", journal_strerror(rc));
    cr_assert_eq(journal_store_close(s), 0);

    /* An option this library does not know: -E2BIG, and nothing created. */
    s = NULL;
    n.future[1] = 1;
    rc = journal_store_open_sized(other, &n.o, sizeof n, &s);
    cr_assert_eq(rc, -E2BIG, "an unknown option set: %s", journal_strerror(rc));
    cr_assert_null(s);
    if (tu_is_lmdb())
        cr_assert_neq(access(other, F_OK), 0, "%s was created", other);
}

Test(abi, struct_sizes_above_4096_are_einval_and_null_options_ignore_the_size)
{
    const char *path = tu_store();
    journal_options o = {0};
    journal_store *s = NULL;
    journal_stat st;
    journal_counters c;

    cr_assert_eq(journal_store_open_sized(path, &o, 4097, &s), -EINVAL);
    cr_assert_null(s);
    cr_assert_eq(journal_store_open_sized(path, NULL, 1u << 20, &s), 0);
    cr_assert_eq(journal_store_stat_sized(s, &st, 4097), -EINVAL);
    cr_assert_eq(journal_store_counters_sized(s, &c, 4097), -EINVAL);
    cr_assert_eq(journal_store_close(s), 0);
}

/* journal_stat as an older header could have had it: without the reader
 * counts. */
struct old_stat {
    unsigned format_version;
    unsigned page_size;
    uint64_t map_size;
    uint64_t file_size;
    uint64_t used_size;
    uint64_t journals;
    uint64_t records;
};

struct old_stat_buf {
    struct old_stat st;
    unsigned char guard[64];
};

static journal_store *store_with_records(void)
{
    journal_store *s = tu_open_store(tu_store(), 0);
    journal *j = tu_open_journal(s, "j");
    cr_assert_eq(journal_append(j, 0, "abc", 3), 0);
    cr_assert_eq(journal_append(j, 1, "de", 2), 0);
    cr_assert_eq(journal_close(j), 0);
    return s;
}

Test(abi, stat_writes_an_older_smaller_struct_up_to_its_size_only)
{
    journal_store *s = store_with_records();
    struct old_stat_buf buf;
    journal_stat full;

    cr_assert_eq(journal_store_stat(s, &full), 0);
    memset(&buf, GUARD, sizeof buf);
    cr_assert_eq(journal_store_stat_sized(s, (journal_stat *)&buf, sizeof buf.st), 0);
    cr_assert_eq(buf.st.format_version, full.format_version);
    cr_assert_eq(buf.st.page_size, full.page_size);
    cr_assert_eq(buf.st.journals, 1);
    cr_assert_eq(buf.st.records, 2);
    cr_assert(all_bytes(buf.guard, sizeof buf.guard, GUARD), "bytes past the older struct were written");

    /* Down to a size that holds the first two fields only. */
    memset(&buf, GUARD, sizeof buf);
    cr_assert_eq(journal_store_stat_sized(s, (journal_stat *)&buf, offsetof(journal_stat, map_size)), 0);
    cr_assert_eq(buf.st.format_version, full.format_version);
    cr_assert_eq(buf.st.page_size, full.page_size);
    cr_assert(all_bytes((char *)&buf + offsetof(journal_stat, map_size), sizeof buf - offsetof(journal_stat, map_size),
                        GUARD),
              "bytes past the size were written");
    cr_assert_eq(journal_store_close(s), 0);
}

struct new_stat {
    journal_stat st;
    uint64_t future[3]; /* fields of a newer header */
};

Test(abi, stat_zeroes_the_fields_of_a_newer_larger_struct_it_does_not_know)
{
    journal_store *s = store_with_records();
    struct new_stat n;
    journal_stat full;

    cr_assert_eq(journal_store_stat(s, &full), 0);
    memset(&n, GUARD, sizeof n);
    cr_assert_eq(journal_store_stat_sized(s, &n.st, sizeof n), 0);
    cr_assert_eq(n.st.journals, 1);
    cr_assert_eq(n.st.records, 2);
    cr_assert_eq(n.st.format_version, full.format_version);
    cr_assert(all_bytes(n.future, sizeof n.future, 0), "the unknown fields are not 0");
    cr_assert_eq(journal_store_close(s), 0);
}

/* journal_counters as an older header could have had it. */
struct old_counters {
    uint64_t appends;
    uint64_t bytes_appended;
};

struct old_counters_buf {
    struct old_counters c;
    unsigned char guard[64];
};

struct new_counters {
    journal_counters c;
    uint64_t future[2];
};

Test(abi, counters_write_an_older_struct_up_to_its_size_and_zero_a_newer_ones_unknown_fields)
{
    journal_store *s = store_with_records();
    struct old_counters_buf old;
    struct new_counters n;

    memset(&old, GUARD, sizeof old);
    cr_assert_eq(journal_store_counters_sized(s, (journal_counters *)&old, sizeof old.c), 0);
    cr_assert_eq(old.c.appends, 2);
    cr_assert_eq(old.c.bytes_appended, 5);
    cr_assert(all_bytes(old.guard, sizeof old.guard, GUARD), "bytes past the older struct were written");

    memset(&n, GUARD, sizeof n);
    cr_assert_eq(journal_store_counters_sized(s, &n.c, sizeof n), 0);
    cr_assert_eq(n.c.appends, 2);
    cr_assert_eq(n.c.bytes_appended, 5);
    cr_assert_eq(n.c.conflicts, 0);
    cr_assert(all_bytes(n.future, sizeof n.future, 0), "the unknown fields are not 0");
    cr_assert_eq(journal_store_close(s), 0);
}

/* The functions named like the macros, for callers that do not expand
 * them (function pointers, bindings), take the structs as 0.1 defines
 * them, which are today's: they write nothing past those. */
struct stat_buf {
    journal_stat st;
    unsigned char guard[64];
};

struct counters_buf {
    journal_counters c;
    unsigned char guard[64];
};

Test(abi, the_functions_under_the_macros_names_take_the_0_1_structs)
{
    int (*open_0_1)(const char *, const journal_options *, journal_store **) = journal_store_open;
    int (*stat_0_1)(journal_store *, journal_stat *) = journal_store_stat;
    int (*counters_0_1)(journal_store *, journal_counters *) = journal_store_counters;
    journal_options o = {0};
    journal_store *s = NULL;
    journal *j;
    struct stat_buf st;
    struct counters_buf c;

    cr_assert_eq(open_0_1(tu_store(), &o, &s), 0);
    j = tu_open_journal(s, "j");
    cr_assert_eq(journal_append(j, 0, "x", 1), 0);
    cr_assert_eq(journal_close(j), 0);
    memset(&st, GUARD, sizeof st);
    cr_assert_eq(stat_0_1(s, &st.st), 0);
    cr_assert_eq(st.st.records, 1);
    cr_assert(all_bytes(st.guard, sizeof st.guard, GUARD), "bytes past journal_stat were written");
    memset(&c, GUARD, sizeof c);
    cr_assert_eq(counters_0_1(s, &c.c), 0);
    cr_assert_eq(c.c.appends, 1);
    cr_assert(all_bytes(c.guard, sizeof c.guard, GUARD), "bytes past journal_counters were written");
    cr_assert_eq(journal_store_close(s), 0);
}

Test(abi, the_version_number_is_the_version_string_as_one_integer)
{
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", JOURNAL_VERSION_NUMBER / 10000, JOURNAL_VERSION_NUMBER / 100 % 100,
             JOURNAL_VERSION_NUMBER % 100);
    cr_assert_str_eq(v, JOURNAL_VERSION_STRING);
    cr_assert_str_eq(journal_version(), JOURNAL_VERSION_STRING);
#if JOURNAL_VERSION_NUMBER < 100
#error "JOURNAL_VERSION_NUMBER is not usable in #if"
#endif
}
