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
 *
 * The assertions on a journal's contents (tu_append_str(), tu_assert_bounds(),
 * tu_assert_record(), tu_assert_str()) are macros, so that a failure names
 * the line of the test that called them. Tests that check records written
 * by several processes use the self-checking records of tu_rec_make().
 */
#ifndef TESTS_UTIL_H
#define TESTS_UTIL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* tu_run() of the command formatted from fmt; asserts that it could run
 * and returns its exit status. */
int tu_runf(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int tu_vrunf(char **out, char **err, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* Runs `sh -c cmd`, with stdin from /dev/null, capturing stdout and stderr
 * into malloc()ed NUL-terminated buffers (either out-pointer may be NULL).
 * Returns the exit status, 128+N for a signal N, -1 if it could not run. */
int tu_run(const char *cmd, char **out, char **err);

/* A random seed: from the environment variable `env` when set (to replay
 * a failure), else from the clock. Prints "env=SEED" to stderr either way. */
uint64_t tu_seed(const char *env);

/* xorshift64* step. */
uint64_t tu_rand(uint64_t *state);

/* n, or a tenth of it under valgrind (JOURNAL_TEST_VALGRIND set), for the
 * tests whose size is there to show scale. */
unsigned tu_scaled(unsigned n);

/* Big-endian integers in records. */
void tu_put_be32(unsigned char *p, uint32_t v);
uint32_t tu_get_be32(const unsigned char *p);
void tu_put_be64(unsigned char *p, uint64_t v);
uint64_t tu_get_be64(const unsigned char *p);

/* qsort() comparator of an array of C strings (char *). */
int tu_cmp_strp(const void *a, const void *b);

/* Opens a store with the given flags (other options default) and asserts
 * success. */
journal_store *tu_open_store(const char *path, unsigned flags);

/* Opens journal `name` of s and asserts success. */
journal *tu_open_journal(journal_store *s, const char *name);

/* Opens journal `name` of s and appends "r0", "r1", ... "r<n-1>" at
 * positions 0 to n-1, asserting success. */
journal *tu_journal_with(journal_store *s, const char *name, journal_pos n);

/* ------------------------------------------------------------------------ */
/* Assertions on a journal (macros: a failure names the caller's line)     */

/* Appends the string rec (without its NUL) at pos; asserts success. */
#define tu_append_str(j, pos, rec)                                                                                     \
    do {                                                                                                               \
        const char *tu_as_rec_ = (rec);                                                                                \
        journal_pos tu_as_pos_ = (pos);                                                                                \
        int tu_as_rc_ = journal_append((j), tu_as_pos_, tu_as_rec_, strlen(tu_as_rec_));                               \
        cr_assert_eq(tu_as_rc_, 0, "append at %llu: %s", (unsigned long long)tu_as_pos_, journal_strerror(tu_as_rc_)); \
    } while (0)

/* Asserts that journal_bounds(j) succeeds with [begin, end). */
#define tu_assert_bounds(j, begin, end)                                                                                \
    do {                                                                                                               \
        journal_pos tu_ab_b_ = 1234, tu_ab_e_ = 5678, tu_ab_begin_ = (begin), tu_ab_end_ = (end);                      \
        int tu_ab_rc_ = journal_bounds((j), &tu_ab_b_, &tu_ab_e_);                                                     \
        cr_assert_eq(tu_ab_rc_, 0, "bounds: %s", journal_strerror(tu_ab_rc_));                                         \
        cr_assert_eq(tu_ab_b_, tu_ab_begin_, "begin %llu, expected %llu", (unsigned long long)tu_ab_b_,                \
                     (unsigned long long)tu_ab_begin_);                                                                \
        cr_assert_eq(tu_ab_e_, tu_ab_end_, "end %llu, expected %llu", (unsigned long long)tu_ab_e_,                    \
                     (unsigned long long)tu_ab_end_);                                                                  \
    } while (0)

/* Asserts that journal_get(j, pos) succeeds with the want_len bytes at want. */
#define tu_assert_record(j, pos, want, want_len)                                                                       \
    do {                                                                                                               \
        journal_pos tu_ar_pos_ = (pos);                                                                                \
        const void *tu_ar_want_ = (want);                                                                              \
        size_t tu_ar_want_len_ = (want_len), tu_ar_len_ = 0;                                                           \
        void *tu_ar_rec_ = NULL;                                                                                       \
        int tu_ar_rc_ = journal_get((j), tu_ar_pos_, &tu_ar_rec_, &tu_ar_len_);                                        \
        cr_assert_eq(tu_ar_rc_, 0, "get %llu: %s", (unsigned long long)tu_ar_pos_, journal_strerror(tu_ar_rc_));       \
        cr_assert_not_null(tu_ar_rec_);                                                                                \
        cr_assert_eq(tu_ar_len_, tu_ar_want_len_, "get %llu: length %zu, expected %zu",                                \
                     (unsigned long long)tu_ar_pos_, tu_ar_len_, tu_ar_want_len_);                                     \
        cr_assert_arr_eq(tu_ar_rec_, tu_ar_want_, tu_ar_len_, "get %llu: wrong bytes",                                 \
                         (unsigned long long)tu_ar_pos_);                                                              \
        free(tu_ar_rec_);                                                                                              \
    } while (0)

/* Asserts that the record at pos is the string want (without its NUL). */
#define tu_assert_str(j, pos, want)                                                                                    \
    do {                                                                                                               \
        const char *tu_at_want_ = (want);                                                                              \
        tu_assert_record((j), (pos), tu_at_want_, strlen(tu_at_want_));                                                \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Self-checking records                                                    */

/* A record names its writer and sequence number and its own length in a
 * header (three big-endian 32-bit integers), then holds 0 to body_max bytes
 * drawn from the seed, writer and sequence number, and ends with the FNV-1a
 * checksum of all that (big-endian 64 bits). Any process knowing the seed
 * can check any record on its own. */
#define TU_REC_HEAD 12
#define TU_REC_SUM 8
#define TU_REC_MAX(body_max) (TU_REC_HEAD + (body_max) + TU_REC_SUM)

/* FNV-1a 64 of len bytes. */
uint64_t tu_fnv1a(const unsigned char *p, size_t len);

/* Writes writer's record number seq into buf (TU_REC_MAX(body_max) bytes)
 * and returns its length. */
size_t tu_rec_make(uint64_t seed, uint32_t writer, uint32_t seq, size_t body_max, unsigned char *buf);

/* What is wrong with rec, or NULL when it is exactly the record that
 * tu_rec_make() makes for the writer and sequence number of its header,
 * with writer < writers: "fails its checksum" (a length out of range, a
 * length field other than len, or a wrong checksum) or "is not one a writer
 * wrote". Sets *writer and *seq from the header when it returns NULL. */
const char *tu_rec_check(uint64_t seed, size_t body_max, uint32_t writers, const void *rec, size_t len,
                         uint32_t *writer, uint32_t *seq);

/* The checksum that ends a record of len bytes (len >= TU_REC_SUM). */
uint64_t tu_rec_sum(const void *rec, size_t len);

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
