/*
 * test_libpq.c - PostgreSQL costs nothing to those who do not use it:
 * libjournal loads libpq.so.5 only at the first postgresql:// open, and
 * when it cannot (libpq missing, or a build without the backend, PG=0) the
 * open fails with -EPROTONOSUPPORT and a message naming the package, and
 * nothing else changes. (tests/test_install.c checks that the installed
 * library does not link libpq.)
 *
 * JOURNAL_TEST_LIBPQ, a hook for these tests only (lib/pg/pq_load.h), names
 * the library to load instead of libpq.so.5. Each Criterion test runs in a
 * process of its own, so each loads libpq, or fails to, afresh.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

TestSuite(libpq, .init = tu_setup, .fini = tu_teardown);

/* A URL no server answers: the open fails before connecting, or after. */
#define URL "postgresql:///postgres?host=/nonexistent-journal-test&journal_schema=t"

/* Opens URL, which must fail with -EPROTONOSUPPORT, setting no handle and
 * leaving a message for journal_store_errmsg(NULL), which is returned. */
static const char *open_fails(void)
{
    journal_store *s = (journal_store *)&s; /* a sentinel: must stay */
    const char *msg;
    int rc = journal_store_open(URL, NULL, &s);
    cr_assert_eq(rc, -EPROTONOSUPPORT, "open: %d %s (%s)", rc, journal_strerror(rc), journal_store_errmsg(NULL));
    cr_assert_eq(s, (journal_store *)&s, "the handle was set on failure");
    msg = journal_store_errmsg(NULL);
    cr_assert(strstr(msg, "PostgreSQL") != NULL, "message: \"%s\"", msg);
    return msg;
}

/* After the failure, LMDB stores work as before in the same process. */
static void lmdb_still_works(void)
{
    const char *dir = tu_path("lmdb-store");
    journal_store *s = tu_open_store(dir, 0);
    journal *j = tu_open_journal(s, "j");
    cr_assert_eq(journal_append(j, 0, "x", 1), 0);
    cr_assert_eq(journal_close(j), 0);
    cr_assert_eq(journal_store_close(s), 0);
}

#if JOURNAL_TEST_PG

Test(libpq, a_postgresql_open_fails_with_eprotonosupport_naming_the_package_when_libpq_is_missing)
{
    const char *msg;
    cr_assert_eq(setenv("JOURNAL_TEST_LIBPQ", "libjournal-test-no-such-libpq.so.5", 1), 0);
    msg = open_fails();
    cr_assert(strstr(msg, "libpq5") != NULL, "the message does not name the package: \"%s\"", msg);
    cr_assert(strstr(msg, "libjournal-test-no-such-libpq.so.5") != NULL, "no reason in \"%s\"", msg);
    /* Loading is tried once per process: a second open fails the same. */
    open_fails();
    lmdb_still_works();
}

Test(libpq, a_library_without_libpqs_functions_is_refused_the_same_way)
{
    const char *msg;
    cr_assert_eq(setenv("JOURNAL_TEST_LIBPQ", "libc.so.6", 1), 0);
    msg = open_fails();
    cr_assert(strstr(msg, "has no function PQ") != NULL, "message: \"%s\"", msg);
    lmdb_still_works();
}

#else

Test(libpq, a_build_without_the_backend_fails_postgresql_opens_with_eprotonosupport)
{
    const char *msg = open_fails();
    cr_assert(strstr(msg, "built without the PostgreSQL backend") != NULL, "message: \"%s\"", msg);
    cr_assert_str_eq(journal_store_errmsg(NULL), msg);
    lmdb_still_works();
}

#endif

/* journal_store_errmsg(NULL) is the message of the thread's last failed
 * open of a PostgreSQL URL: LMDB opens since, failed or not, leave it. */
Test(libpq, the_message_of_a_failed_postgresql_open_outlives_later_lmdb_opens)
{
    const char *file = tu_path("a-file");
    journal_store *s;
    FILE *f;
    char *msg;
#if JOURNAL_TEST_PG
    cr_assert_eq(setenv("JOURNAL_TEST_LIBPQ", "libjournal-test-no-such-libpq.so.5", 1), 0);
#endif
    msg = strdup(open_fails());
    cr_assert_not_null(msg);
    lmdb_still_works();
    cr_assert_str_eq(journal_store_errmsg(NULL), msg);
    f = fopen(file, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(journal_store_open(file, NULL, &s), -ENOTDIR);
    cr_assert_str_eq(journal_store_errmsg(NULL), msg);
    free(msg);
}
