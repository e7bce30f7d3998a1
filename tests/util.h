/*
 * util.h - helpers shared by the Criterion tests in tests/test_*.c.
 *
 * Each test runs in its own process (Criterion forks). A suite declared with
 * .init = tu_setup, .fini = tu_teardown gets a fresh temporary directory,
 * tu_dir(), removed after the test, and tu_store() names a fresh store for
 * the test in the backend under test.
 *
 * The backend under test is chosen by the environment: JOURNAL_TEST_BACKEND
 * unset or "lmdb" gives directories; "pg" gives postgresql:// URLs, each
 * test with a schema of its own, on the server named by JOURNAL_TEST_PG_URL.
 * Tests of LMDB-only behaviour call tu_require_lmdb(), which skips the test
 * with that reason on other backends.
 */
#ifndef TESTS_UTIL_H
#define TESTS_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"

void tu_setup(void);
void tu_teardown(void);

/* The test's temporary directory (valid between setup and teardown). */
const char *tu_dir(void);

/* A path under tu_dir(): tu_path("x") is "<dir>/x". The result is
 * malloc()ed and freed at teardown. */
const char *tu_path(const char *name);

/* A fresh store location for this test: a directory under tu_dir() (not
 * yet created) or, on PostgreSQL, a URL with a schema unique to the test.
 * Each call gives a different store; free at teardown. */
const char *tu_store(void);

/* 1 when the backend under test is LMDB. */
int tu_is_lmdb(void);

/* Skips the calling test (cr_skip_test) when the backend is not LMDB. */
void tu_require_lmdb(void);

/* rm -rf path; ignores errors. */
void tu_rm_rf(const char *path);

/* Path of a built program: $JOURNAL_TEST_BIN/name (build/bin by default). */
const char *tu_bin(const char *name);

/* Runs `sh -c cmd`, with stdin from /dev/null, capturing stdout and stderr
 * into malloc()ed NUL-terminated buffers (either out-pointer may be NULL).
 * Returns the exit status, 128+N for a signal N, -1 if it could not run. */
int tu_run(const char *cmd, char **out, char **err);

/* A random seed: from the environment variable `env` when set (to replay
 * a failure), else from the clock. Prints "env=SEED" to stderr either way. */
uint64_t tu_seed(const char *env);

/* xorshift64* step. */
uint64_t tu_rand(uint64_t *state);

/* Opens a store with the given flags (other options default) and asserts
 * success. */
journal_store *tu_open_store(const char *path, unsigned flags);

/* Opens journal `name` of s and asserts success. */
journal *tu_open_journal(journal_store *s, const char *name);

#endif
