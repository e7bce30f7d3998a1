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
 *
 * Tests that fork their own child processes call tu_procs_init() first and
 * tu_procs_fini() at the end. Children start with tu_spawn() and report a
 * failure with tu_child_fail(), one line on an error pipe; the parent shows
 * those lines in its assertions through tu_child_errors().
 */
#ifndef TESTS_UTIL_H
#define TESTS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

/* ------------------------------------------------------------------------ */
/* Child processes                                                          */

/* Longest a parent waits on its children before failing instead of hanging. */
#define TU_PROC_TIMEOUT_MS 120000

/* Writes all len bytes to fd, retrying after EINTR. Returns 0, or -1 when a
 * write fails or writes nothing. */
int tu_write_all(int fd, const void *buf, size_t len);

/* Reads exactly len bytes from fd, retrying after EINTR. Returns 0, 1 at
 * end of file before any byte, or -1 on an error or end of file part-way. */
int tu_read_all(int fd, void *buf, size_t len);

/* Makes the error pipe (its read end nonblocking) and asserts success. Call
 * it in the test process before the first tu_spawn(). */
void tu_procs_init(void);

/* Closes both ends of the error pipe, at the end of the test. */
void tu_procs_fini(void);

/* In a child: formats a line "[pid N] message", writes it to stderr and to
 * the error pipe, and leaves with _exit(1). */
_Noreturn void tu_child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In the parent: what children reported on the error pipe so far, without
 * blocking, or "(no message)". The text lives in a static buffer that the
 * next call overwrites. */
const char *tu_child_errors(void);

/* Forks a child running fn(arg), which leaves with _exit(0) when fn returns,
 * and returns its pid (asserting that fork worked). The child gets SIGKILL
 * when the test process dies, so a failed assertion ends its children too. */
pid_t tu_spawn(void (*fn)(void *), void *arg);

/* Waits until fd is readable (or at end of file), failing the test when a
 * child reports an error first or nothing happens for TU_PROC_TIMEOUT_MS. */
void tu_wait_readable(int fd);

/* Waits for child pid to end, retrying after EINTR, and returns its wait
 * status. */
int tu_reap(pid_t pid);

/* Waits for child pid and asserts it exited with 0; `what` names it in the
 * failure message, with what children reported. */
void tu_expect_exit_ok(pid_t pid, const char *what);

#endif
